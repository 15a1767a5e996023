"""An ``ImageBackend`` running a diffusers text-to-image pipeline in this process (CPU or CUDA).

The model comes from a local directory or a hub id (SDXL, SD-Turbo, FLUX-schnell: whatever
``AutoPipelineForText2Image`` resolves). torch and diffusers are imported only when a pipeline is
loaded, so the gateway core needs neither. Generation runs on one dedicated thread (a pipeline is
not thread-safe and must never block the event loop); progress comes from the step callback and
every image gets its own seeded ``torch.Generator``, so a seed always gives the same picture.
Specs that share size, steps and guidance can be rendered in one batched pipeline call; jobs that
arrive separately are gathered into such calls by ``alfred.images.batcher`` (see ``diffusers_batcher``).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import io
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from alfred.errors import InvalidRequestError, ServiceUnavailableError, UpstreamError
from alfred.images.backend import ProgressCallback
from alfred.images.batcher import DynamicBatcher
from alfred.schema.images import GeneratedImage, GenerationSpec


@dataclass(frozen=True, slots=True)
class DiffusersOptions:
    """Which model to load and where to run it."""

    model: str  # a local directory (saved with save_pretrained) or a hub id
    device: str = "auto"  # "auto" (CUDA when present) | "cpu" | "cuda" | "cuda:N"
    dtype: str = "auto"  # "auto" (float16 on CUDA, float32 on CPU) | "float16" | "bfloat16" | "float32"
    variant: str | None = None  # e.g. "fp16" weights files
    local_files_only: bool = False  # never touch the hub (always true for a local directory)
    cpu_offload: bool = False  # enable_model_cpu_offload: fits SDXL in small GPUs, slower
    attention_slicing: bool = False
    max_batch: int = 4  # the most images one pipeline call renders
    batch_wait_ms: float = 5.0  # how long an idle pipeline waits for companions of a job (dynamic batching)
    torch_threads: int | None = None  # CPU intra-op threads (process-wide); None keeps torch's default
    price_per_image: Decimal = Decimal(0)


class _Interrupted(Exception):
    """Raised from the step callback to stop a pipeline mid-run."""


PipelineLoader = Callable[[DiffusersOptions], Any]


def _torch() -> Any:
    # Imported by name so that neither the core install nor its type check needs torch.
    return importlib.import_module("torch")


def resolve_device(device: str) -> str:
    torch = _torch()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_dtype(dtype: str, device: str) -> Any:
    torch = _torch()
    if dtype == "auto":
        return torch.float16 if device.startswith("cuda") else torch.float32
    try:
        return {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}") from None


def load_pipeline(options: DiffusersOptions) -> Any:
    """Load the pipeline the options name and move it to its device (blocking: call off the loop)."""
    auto_pipeline = importlib.import_module("diffusers").AutoPipelineForText2Image
    if options.torch_threads is not None:
        # On a shared or small CPU, fewer threads than cores avoids OpenMP spin contention
        # (measured here: 10 tiny steps took 8 s on 2 busy cores with 2 threads, 0.3 s with 1).
        _torch().set_num_threads(options.torch_threads)
    device = resolve_device(options.device)
    local = Path(options.model).is_dir()
    pipe = auto_pipeline.from_pretrained(
        options.model,
        dtype=resolve_dtype(options.dtype, device),
        variant=options.variant,
        local_files_only=options.local_files_only or local,
    )
    if options.cpu_offload and device.startswith("cuda"):
        pipe.enable_model_cpu_offload()
    else:
        pipe = pipe.to(device)
    if options.attention_slicing:
        pipe.enable_attention_slicing()
    pipe.set_progress_bar_config(disable=True)
    return pipe


class DiffusersBackend:
    """Renders specs with a local diffusers pipeline on a dedicated worker thread."""

    kind = "diffusers"

    def __init__(
        self,
        name: str,
        options: DiffusersOptions,
        *,
        pipeline: Any = None,
        loader: PipelineLoader = load_pipeline,
    ) -> None:
        self.name = name
        self.options = options
        self.price_per_image = options.price_per_image
        self._pipeline = pipeline
        self._loader = loader
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"diffusers-{name}")
        self._load_lock = asyncio.Lock()
        self._stops: set[threading.Event] = set()
        self._reports: set[asyncio.Future[None]] = set()  # progress callbacks in flight (kept referenced)

    @property
    def loaded(self) -> bool:
        return self._pipeline is not None

    async def load(self) -> None:
        """Load the pipeline now (else the first generation does); safe to call many times."""
        async with self._load_lock:
            if self._pipeline is not None:
                return
            loop = asyncio.get_running_loop()
            try:
                self._pipeline = await loop.run_in_executor(self._executor, self._loader, self.options)
            except (OSError, ValueError, ImportError, RuntimeError) as exc:
                raise ServiceUnavailableError(
                    f"diffusers: cannot load {self.options.model!r}: {exc}"
                ) from exc

    async def generate(self, spec: GenerationSpec, progress: ProgressCallback) -> list[GeneratedImage]:
        return (await self.generate_batch([spec], progress))[0]

    async def generate_batch(
        self, specs: Sequence[GenerationSpec], progress: ProgressCallback
    ) -> list[list[GeneratedImage]]:
        """Render several specs in one pipeline call; they must agree on size, steps and guidance."""
        if not specs:
            return []
        _check_batch(specs, self.options.max_batch)
        await self.load()
        loop = asyncio.get_running_loop()
        stop = threading.Event()
        self._stops.add(stop)

        def report(fraction: float, message: str) -> None:
            # From the worker thread: schedule the callback on the loop and never wait for it.
            loop.call_soon_threadsafe(self._spawn, progress(fraction, message))

        await progress(0.0, "queued on the local pipeline")
        future = loop.run_in_executor(self._executor, self._render, list(specs), report, stop)
        try:
            flat = await future
        except asyncio.CancelledError:
            stop.set()  # the thread stops at its next step
            raise
        finally:
            self._stops.discard(stop)
        out: list[list[GeneratedImage]] = []
        position = 0
        for spec in specs:
            out.append(flat[position : position + spec.n])
            position += spec.n
        await progress(1.0, "done")
        return out

    def _spawn(self, report: Awaitable[None]) -> None:
        task = asyncio.ensure_future(report)
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)

    async def cancel(self) -> None:
        """Stop every run in flight or queued at its next denoising step."""
        for stop in list(self._stops):
            stop.set()

    async def close(self) -> None:
        await self.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._pipeline = None

    # -- on the worker thread -----------------------------------------------------------------
    def _render(
        self, specs: list[GenerationSpec], report: Callable[[float, str], None], stop: threading.Event
    ) -> list[GeneratedImage]:
        torch = _torch()
        if stop.is_set():
            raise UpstreamError("diffusers: generation cancelled", code="cancelled", retryable=False)
        pipe = self._pipeline
        first = specs[0]
        prompts: list[str] = []
        negatives: list[str] = []
        generators: list[Any] = []
        device = _generator_device(pipe)
        for spec in specs:
            for index in range(spec.n):
                prompts.append(spec.prompt)
                negatives.append(spec.negative_prompt)
                generators.append(torch.Generator(device=device).manual_seed(spec.seed + index))
        accepted = set(inspect.signature(pipe.__call__).parameters)
        kwargs: dict[str, Any] = {
            "prompt": prompts,
            "width": first.width,
            "height": first.height,
            "num_inference_steps": first.steps,
            "guidance_scale": first.guidance,
            "generator": generators,
            "output_type": "pil",
        }
        if "negative_prompt" in accepted and any(negatives):
            kwargs["negative_prompt"] = negatives
        steps = max(first.steps, 1)

        def on_step_end(_pipe: Any, step: int, _timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            if stop.is_set():
                raise _Interrupted
            report(min((step + 1) / steps, 1.0) * 0.95, f"step {step + 1}/{steps}")
            return tensors

        if "callback_on_step_end" in accepted:
            kwargs["callback_on_step_end"] = on_step_end
        try:
            with torch.inference_mode():
                result = pipe(**kwargs)
        except _Interrupted:
            raise UpstreamError(
                "diffusers: generation cancelled", code="cancelled", retryable=False
            ) from None
        except torch.cuda.OutOfMemoryError as exc:
            raise ServiceUnavailableError(f"diffusers: out of GPU memory ({exc})") from exc
        except (RuntimeError, ValueError) as exc:
            raise UpstreamError(f"diffusers: generation failed: {exc}") from exc
        return [_png(image) for image in result.images]


def diffusers_batcher(name: str, options: DiffusersOptions, **kwargs: Any) -> DynamicBatcher:
    """One pipeline behind a ``DynamicBatcher``: put a ``BatchSlot`` over it in each of the pool's slots,
    so concurrent jobs of one shape render in one pipeline call (up to ``max_batch`` images)."""
    backend = DiffusersBackend(name, options, **kwargs)
    return DynamicBatcher(
        backend.generate_batch,
        max_batch=options.max_batch,
        max_wait_s=options.batch_wait_ms / 1000,
        close=backend.close,
    )


def _check_batch(specs: Sequence[GenerationSpec], max_batch: int) -> None:
    first = specs[0]
    for spec in specs:
        if spec.width % 8 or spec.height % 8 or spec.width <= 0 or spec.height <= 0:
            raise InvalidRequestError(
                f"width and height must be positive multiples of 8, got {spec.width}x{spec.height}",
                param="size",
                retryable=False,
            )
        if spec.n < 1:
            raise InvalidRequestError("n must be at least 1", param="n", retryable=False)
        shape = (spec.width, spec.height, spec.steps, spec.guidance)
        if shape != (first.width, first.height, first.steps, first.guidance):
            raise InvalidRequestError("a batch must share size, steps and guidance", retryable=False)
    total = sum(spec.n for spec in specs)
    if total > max_batch:
        raise InvalidRequestError(
            f"batch of {total} images exceeds max_batch {max_batch}", param="n", retryable=False
        )


def _generator_device(pipe: Any) -> str:
    # Offloaded pipelines report "cpu" until a module runs; their generators work on CPU either way.
    device = getattr(pipe, "device", None)
    kind = getattr(device, "type", "cpu")
    return "cuda" if kind == "cuda" else "cpu"


def _png(image: Any) -> GeneratedImage:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return GeneratedImage(buffer.getvalue(), "image/png")
