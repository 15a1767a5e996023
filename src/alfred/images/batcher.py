"""Dynamic batching: generations that share a shape and arrive together render in one batched call.

A batched renderer (the local diffusers pipeline) is much faster per image when it renders several
prompts at once, but the worker hands it jobs one by one. ``DynamicBatcher`` sits between them:
each job's ``generate`` joins a pending list; the runner takes the oldest job, waits at most
``max_wait_s`` for companions of the same shape (model, size, steps, guidance), and renders up to
``max_batch`` images in one call, then splits the results back per job. While a batch runs, new
jobs queue up and form the next batch, so a busy renderer batches without waiting at all.

Each job keeps its own seeds (the renderer seeds every image by itself), so a job renders the same
picture whether it ran alone or in a batch. ``BatchSlot`` is one ``ImageBackend`` in front of a
shared batcher: configure as many slots as the batch may hold, so the worker feeds it enough jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field

from alfred.images.backend import ProgressCallback
from alfred.schema.images import GeneratedImage, GenerationSpec

log = logging.getLogger("alfred.images.batcher")

BatchRenderer = Callable[[Sequence[GenerationSpec], ProgressCallback], Awaitable[list[list[GeneratedImage]]]]
"""Renders several specs of one shape in one call; returns each spec's images, in order."""

Closer = Callable[[], Awaitable[None]]


def batch_shape(spec: GenerationSpec) -> Hashable:
    """What must be equal for specs to share one pipeline call (prompts, seeds and n may differ)."""
    return (spec.model, spec.width, spec.height, spec.steps, spec.guidance)


@dataclass(eq=False)
class _Pending:
    spec: GenerationSpec
    progress: ProgressCallback
    result: asyncio.Future[list[GeneratedImage]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class DynamicBatcher:
    """Collects concurrent generations into batched renderer calls, one call at a time."""

    def __init__(
        self,
        render: BatchRenderer,
        *,
        max_batch: int,
        max_wait_s: float,
        close: Closer | None = None,
        shape: Callable[[GenerationSpec], Hashable] = batch_shape,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._render = render
        self.max_batch = max_batch
        self.max_wait_s = max(0.0, max_wait_s)
        self._close = close
        self._shape = shape
        self._pending: list[_Pending] = []
        self._arrived = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._closed = False
        self.batches: list[int] = []  # images per renderer call, newest last (bounded; for metrics)

    async def generate(self, spec: GenerationSpec, progress: ProgressCallback) -> list[GeneratedImage]:
        """Render ``spec``, batched with whatever of the same shape arrives within the wait."""
        if self._closed:
            raise RuntimeError("the batcher is closed")
        item = _Pending(spec, progress)
        self._pending.append(item)
        self._arrived.set()
        if self._runner is None or self._runner.done():
            self._runner = asyncio.ensure_future(self._run())
        try:
            return await asyncio.shield(item.result)
        except asyncio.CancelledError:
            # The job was cancelled (or its worker is stopping): drop it from its batch. A batch
            # whose every job is gone is stopped by _render_batch.
            item.result.cancel()
            raise

    async def _run(self) -> None:
        while self._pending and not self._closed:
            first = self._pending[0]
            shape = self._shape(first.spec)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.max_wait_s
            while self._images_like(shape) < self.max_batch and loop.time() < deadline:
                self._arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), deadline - loop.time())
            batch = self._take(shape)
            if batch:
                await self._render_batch(batch)

    def _images_like(self, shape: Hashable) -> int:
        return sum(p.spec.n for p in self._pending if not p.result.done() and self._shape(p.spec) == shape)

    def _take(self, shape: Hashable) -> list[_Pending]:
        """The oldest live jobs of ``shape`` up to ``max_batch`` images (the first always, even if larger)."""
        batch: list[_Pending] = []
        images = 0
        kept: list[_Pending] = []
        for item in self._pending:
            if item.result.done():
                continue  # cancelled while waiting
            fits = not batch or images + item.spec.n <= self.max_batch
            if self._shape(item.spec) == shape and fits:
                batch.append(item)
                images += item.spec.n
            else:
                kept.append(item)
        self._pending = kept
        return batch

    async def _render_batch(self, batch: list[_Pending]) -> None:
        async def progress(fraction: float, message: str) -> None:
            for item in batch:
                if not item.result.done():
                    await item.progress(fraction, message)

        task = asyncio.ensure_future(self._render([item.spec for item in batch], progress))

        def abandon_if_all_gone(_: object) -> None:
            if all(item.result.done() for item in batch) and not task.done():
                task.cancel()  # nobody wants this batch any more: stop the renderer at its next step

        for item in batch:
            item.result.add_done_callback(abandon_if_all_gone)
        self.batches = [*self.batches[-99:], sum(item.spec.n for item in batch)]
        try:
            results = await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # this runner itself is being cancelled (close), not just the batch
            return
        except Exception as exc:
            for item in batch:
                if not item.result.done():
                    item.result.set_exception(exc)
            return
        for item, images in zip(batch, results, strict=True):
            if not item.result.done():
                item.result.set_result(images)

    async def close(self) -> None:
        """Fail what waits, stop the runner, close the renderer; safe to call many times."""
        if self._closed:
            return
        self._closed = True
        if self._runner is not None and not self._runner.done():
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        for item in self._pending:
            if not item.result.done():
                item.result.set_exception(RuntimeError("the batcher was closed"))
        self._pending.clear()
        if self._close is not None:
            await self._close()


class BatchSlot:
    """One pool slot over a shared ``DynamicBatcher`` (an ``ImageBackend``)."""

    def __init__(self, name: str, kind: str, batcher: DynamicBatcher) -> None:
        self.name = name
        self.kind = kind
        self.batcher = batcher

    async def generate(self, spec: GenerationSpec, progress: ProgressCallback) -> list[GeneratedImage]:
        return await self.batcher.generate(spec, progress)

    async def cancel(self) -> None:
        """Nothing to do: the worker cancels the ``generate`` call, which leaves the batch (see above)."""

    async def close(self) -> None:
        await self.batcher.close()
