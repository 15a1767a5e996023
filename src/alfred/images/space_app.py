"""The Gradio app a Hugging Face Space runs: Alfred's diffusers backend behind one named API endpoint.

``/gradio_api/call/generate`` takes ``[prompt, negative_prompt, width, height, steps, guidance,
seed, n]`` and streams ``generating`` events whose first output is ``{"progress", "message"}``;
the ``complete`` event carries the final status and a gallery of PNG files. ``providers/spaces.py``
is its client. Gradio is imported only here, and only when the app is built.

Configured from the environment so that ``space/app.py`` deploys as is: ``ALFRED_SPACE_MODEL``
(a hub id or directory, default ``stabilityai/sd-turbo``), ``ALFRED_SPACE_DEVICE``,
``ALFRED_SPACE_DTYPE``, ``ALFRED_SPACE_MAX_BATCH``, ``ALFRED_SPACE_TORCH_THREADS``,
``ALFRED_SPACE_QUEUE_SIZE``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from alfred.errors import AlfredError
from alfred.providers.diffusers_local import DiffusersBackend, DiffusersOptions
from alfred.schema.images import GeneratedImage, GenerationSpec

API_NAME = "generate"
DEFAULT_MODEL = "stabilityai/sd-turbo"
# The order of the endpoint's inputs: providers/spaces.py sends its data list in this order.
INPUT_NAMES = ("prompt", "negative_prompt", "width", "height", "steps", "guidance", "seed", "n")

Update = tuple[dict[str, Any], list[str] | None]


class SpaceGenerator:
    """The endpoint's function: runs a backend and turns its progress into streamed updates."""

    def __init__(self, backend: DiffusersBackend, output_dir: Path | None = None) -> None:
        self._backend = backend
        self._output_dir = output_dir or Path(tempfile.mkdtemp(prefix="alfred-space-"))

    async def run(
        self,
        prompt: str,
        negative_prompt: str | None,
        width: float,
        height: float,
        steps: float,
        guidance: float,
        seed: float,
        n: float,
    ) -> AsyncIterator[Update]:
        import gradio as gr

        if not prompt or not prompt.strip():
            raise gr.Error("prompt is required")
        spec = GenerationSpec(
            prompt=prompt,
            negative_prompt=negative_prompt or "",
            model=self._backend.options.model,
            width=int(width),
            height=int(height),
            steps=int(steps),
            guidance=float(guidance),
            seed=int(seed),
            n=int(n),
        )
        updates: asyncio.Queue[tuple[float, str]] = asyncio.Queue()

        async def progress(fraction: float, message: str) -> None:
            updates.put_nowait((fraction, message))

        task = asyncio.create_task(self._backend.generate(spec, progress))
        try:
            while not task.done() or not updates.empty():
                getter = asyncio.ensure_future(updates.get())
                await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    fraction, message = getter.result()
                    yield {"progress": round(fraction, 4), "message": message}, None
                else:
                    getter.cancel()
            images = task.result()
        except AlfredError as exc:
            raise gr.Error(exc.message) from exc
        finally:
            if not task.done():
                task.cancel()  # the caller went away: stop the pipeline at its next step
                with contextlib.suppress(asyncio.CancelledError, AlfredError):
                    await task
        paths = [self._write(spec, index, image) for index, image in enumerate(images)]
        status = {
            "progress": 1.0,
            "message": "done",
            "seed": spec.seed,
            "width": spec.width,
            "height": spec.height,
        }
        try:
            yield status, [str(path) for path in paths]
        finally:
            # Gradio has copied them into its own cache (cleared by delete_cache) by now.
            for path in paths:
                path.unlink(missing_ok=True)

    def _write(self, spec: GenerationSpec, index: int, image: GeneratedImage) -> Path:
        digest = hashlib.sha256(image.data).hexdigest()[:32]
        path = self._output_dir / f"{digest}-{spec.seed + index}.png"
        path.write_bytes(image.data)
        return path


def build_space_app(backend: DiffusersBackend, *, title: str = "Alfred Forge", queue_size: int = 64) -> Any:
    """The Gradio Blocks app; its ``generate`` endpoint runs one job at a time (one GPU)."""
    import gradio as gr

    generator = SpaceGenerator(backend)
    # delete_cache=(every, older_than) in seconds: a long-running Space must not fill its disk.
    with gr.Blocks(title=title, delete_cache=(3600, 3600)) as demo:
        gr.Markdown(
            f"# {title}\nText to image with `{backend.options.model}`, served for Alfred's image pipeline."
        )
        with gr.Row():
            with gr.Column():
                prompt = gr.Textbox(label="prompt", lines=2)
                negative = gr.Textbox(label="negative_prompt", value="")
                width = gr.Number(label="width", value=512, precision=0)
                height = gr.Number(label="height", value=512, precision=0)
                steps = gr.Number(label="steps", value=1, precision=0)
                guidance = gr.Number(label="guidance", value=0.0)
                seed = gr.Number(label="seed", value=0, precision=0)
                count = gr.Number(label="n", value=1, precision=0)
                run = gr.Button("Generate", variant="primary")
            with gr.Column():
                status = gr.JSON(label="status")
                gallery = gr.Gallery(label="images", format="png")
        run.click(
            generator.run,  # a bound async generator function: Gradio streams what it yields
            inputs=[prompt, negative, width, height, steps, guidance, seed, count],
            outputs=[status, gallery],
            api_name=API_NAME,
            concurrency_limit=1,
        )
    demo.queue(max_size=queue_size)
    return demo


def options_from_env(environ: dict[str, str] | None = None) -> DiffusersOptions:
    env = os.environ if environ is None else environ
    return DiffusersOptions(
        model=env.get("ALFRED_SPACE_MODEL", DEFAULT_MODEL),
        device=env.get("ALFRED_SPACE_DEVICE", "auto"),
        dtype=env.get("ALFRED_SPACE_DTYPE", "auto"),
        max_batch=int(env.get("ALFRED_SPACE_MAX_BATCH", "4")),
        torch_threads=int(env["ALFRED_SPACE_TORCH_THREADS"])
        if env.get("ALFRED_SPACE_TORCH_THREADS")
        else None,
    )


def main() -> None:
    """Entry point of ``space/app.py`` and ``alfred space``: load the model, then serve."""
    backend = DiffusersBackend("space", options_from_env())
    asyncio.run(backend.load())  # fail at start, not on the first request, when the model is bad
    demo = build_space_app(backend, queue_size=int(os.environ.get("ALFRED_SPACE_QUEUE_SIZE", "64")))
    demo.launch()  # GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (Spaces set them) pick the address
