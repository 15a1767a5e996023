"""DynamicBatcher: grouping by shape, the batch limit, the wait for companions, cancellation, errors."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from alfred.errors import UpstreamError
from alfred.images.batcher import BatchSlot, DynamicBatcher
from alfred.schema.images import GeneratedImage, GenerationSpec
from tests.unit.images.harness import until


def spec(prompt: str, *, seed: int = 0, n: int = 1, steps: int = 4, width: int = 64) -> GenerationSpec:
    return GenerationSpec(prompt=prompt, model="m", width=width, height=64, steps=steps, seed=seed, n=n)


class Renderer:
    """Records each call's prompts; renders image i of a spec as ``prompt/seed+i``; can be held."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.cancelled = 0
        self.fail: Exception | None = None
        self.closed = 0

    async def __call__(self, specs: Sequence[GenerationSpec], progress: object) -> list[list[GeneratedImage]]:
        self.calls.append([s.prompt for s in specs])
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if self.fail is not None:
            raise self.fail
        return [[GeneratedImage(f"{s.prompt}/{s.seed + i}".encode()) for i in range(s.n)] for s in specs]

    async def close(self) -> None:
        self.closed += 1


async def nothing(fraction: float, message: str) -> None:
    return None


async def test_concurrent_jobs_of_one_shape_share_a_call_and_get_their_own_images() -> None:
    render = Renderer()
    batcher = DynamicBatcher(render, max_batch=4, max_wait_s=0.5)
    results = await asyncio.gather(
        batcher.generate(spec("a", seed=1), nothing),
        batcher.generate(spec("b", seed=5, n=2), nothing),
        batcher.generate(spec("c", seed=9), nothing),
    )
    assert render.calls == [["a", "b", "c"]]
    assert [[image.data for image in images] for images in results] == [
        [b"a/1"],
        [b"b/5", b"b/6"],
        [b"c/9"],
    ]
    assert batcher.batches == [4]


async def test_shapes_never_mix_and_the_limit_splits_batches() -> None:
    render = Renderer()
    batcher = DynamicBatcher(render, max_batch=2, max_wait_s=0.2)
    await asyncio.gather(
        batcher.generate(spec("a"), nothing),
        batcher.generate(spec("wide", width=128), nothing),
        batcher.generate(spec("b"), nothing),
        batcher.generate(spec("c"), nothing),
        batcher.generate(spec("more steps", steps=8), nothing),
    )
    assert render.calls == [["a", "b"], ["wide"], ["c"], ["more steps"]]


async def test_a_lone_job_waits_at_most_the_window_then_runs_alone() -> None:
    render = Renderer()
    batcher = DynamicBatcher(render, max_batch=4, max_wait_s=0.05)
    started = asyncio.get_running_loop().time()
    images = await batcher.generate(spec("alone"), nothing)
    assert images[0].data == b"alone/0"
    assert asyncio.get_running_loop().time() - started >= 0.05
    assert render.calls == [["alone"]]


async def test_jobs_arriving_while_a_batch_runs_form_the_next_batch() -> None:
    render = Renderer()
    render.gate.clear()
    batcher = DynamicBatcher(render, max_batch=4, max_wait_s=0)
    first = asyncio.ensure_future(batcher.generate(spec("first"), nothing))
    await until(lambda: len(render.calls) == 1)
    later = [asyncio.ensure_future(batcher.generate(spec(p), nothing)) for p in ("x", "y", "z")]
    await asyncio.sleep(0.05)
    render.gate.set()
    await asyncio.gather(first, *later)
    assert render.calls == [["first"], ["x", "y", "z"]]


async def test_a_cancelled_waiting_job_leaves_and_a_batch_nobody_wants_is_stopped() -> None:
    render = Renderer()
    render.gate.clear()
    batcher = DynamicBatcher(render, max_batch=4, max_wait_s=0)
    running = asyncio.ensure_future(batcher.generate(spec("running"), nothing))
    await until(lambda: len(render.calls) == 1)
    waiting = asyncio.ensure_future(batcher.generate(spec("waiting"), nothing))
    kept = asyncio.ensure_future(batcher.generate(spec("kept"), nothing))
    await asyncio.sleep(0.01)
    waiting.cancel()
    running.cancel()  # its batch has nobody else: the renderer is cancelled
    await until(lambda: render.cancelled == 1)
    render.gate.set()
    assert (await kept)[0].data == b"kept/0"
    assert render.calls == [["running"], ["kept"]]
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_a_failed_batch_fails_each_of_its_jobs_and_the_next_batch_runs() -> None:
    render = Renderer()
    render.fail = UpstreamError("boom")
    batcher = DynamicBatcher(render, max_batch=2, max_wait_s=0.05)
    outcomes = await asyncio.gather(
        batcher.generate(spec("a"), nothing), batcher.generate(spec("b"), nothing), return_exceptions=True
    )
    assert all(isinstance(outcome, UpstreamError) for outcome in outcomes)
    render.fail = None
    assert (await batcher.generate(spec("c"), nothing))[0].data == b"c/0"


async def test_progress_reaches_every_job_and_slots_close_the_renderer_once() -> None:
    seen: list[tuple[str, float]] = []

    async def render(specs: Sequence[GenerationSpec], progress: object) -> list[list[GeneratedImage]]:
        await progress(0.5, "half")  # type: ignore[operator]
        return [[GeneratedImage(b"x")] for _ in specs]

    renderer = Renderer()
    batcher = DynamicBatcher(render, max_batch=2, max_wait_s=0.2, close=renderer.close)

    def recorder(name: str) -> object:
        async def progress(fraction: float, message: str) -> None:
            seen.append((name, fraction))

        return progress

    slots = [BatchSlot("local", "diffusers", batcher) for _ in range(2)]
    await asyncio.gather(
        slots[0].generate(spec("a"), recorder("a")),  # type: ignore[arg-type]
        slots[1].generate(spec("b"), recorder("b")),  # type: ignore[arg-type]
    )
    assert sorted(seen) == [("a", 0.5), ("b", 0.5)]
    for slot in slots:
        await slot.close()
    assert renderer.closed == 1
    with pytest.raises(RuntimeError, match="closed"):
        await slots[0].generate(spec("late"), nothing)
