"""``ImageWorker``: consumes one queue, runs each job on a free backend of its pool, stores the images,
finishes the job, acks.

At least once, effects once: a job whose worker dies is redelivered (see ``queue.py``) and finished
by another worker; the job store's compare-and-set lets one of them finish it, and settling (the
charge) is idempotent on the job id. A job delivered more than ``max_deliveries`` times fails with a
reason and goes to the dead-letter list, so a job that crashes every worker stops circulating.
While a job runs, a watcher heart-beats the queue and notices a client's cancel (then the backend's
``cancel()`` is called, e.g. to cancel a Replicate prediction).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal

import msgspec

from alfred.errors import AlfredError
from alfred.images.jobs import ImageJob, JobError, JobImage, JobState
from alfred.images.pool import BackendPool, PoolMember
from alfred.images.queue import Delivery, JobQueue
from alfred.images.recorder import JobRecorder
from alfred.schema.images import GeneratedImage, GenerationSpec
from alfred.storage.blobs import BlobStore

log = logging.getLogger("alfred.images.worker")

PostProcess = Callable[[GenerationSpec, list[GeneratedImage]], Awaitable[list[GeneratedImage]]]
"""A step after generation, e.g. background removal for ``background: transparent``."""

_PROGRESS_STORE_S = 0.5  # progress is published on every step but written to the store at most this often


class _Cancelled(Exception):
    """The client cancelled the job while it ran."""


class ImageWorker:
    """One consumer of one queue, running up to ``pool.size`` jobs at once."""

    def __init__(
        self,
        queue: JobQueue,
        pool: BackendPool,
        recorder: JobRecorder,
        blobs: BlobStore,
        *,
        consumer: str,
        price_per_image: Decimal = Decimal(0),
        max_deliveries: int = 5,
        retries: int = 1,
        heartbeat_s: float = 5.0,
        block_s: float = 1.0,
        postprocess: PostProcess | None = None,
    ) -> None:
        self.queue = queue
        self.pool = pool
        self.consumer = consumer
        self._recorder = recorder
        self._jobs = recorder.jobs
        self._blobs = blobs
        self._price = price_per_image
        self._max_deliveries = max_deliveries
        self._retries = retries
        self._heartbeat_s = heartbeat_s
        self._block_s = block_s
        self._postprocess = postprocess
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False
        self.completed = 0

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        self._loop_task = asyncio.ensure_future(self.run())
        return self._loop_task

    async def run(self) -> None:
        """Receive while there is a free slot; each delivery runs as its own task."""
        while not self._stopping:
            capacity = self.pool.size - len(self._tasks)
            if capacity <= 0:
                await asyncio.wait(set(self._tasks), return_when=asyncio.FIRST_COMPLETED)
                continue
            try:
                deliveries = await self.queue.receive(self.consumer, capacity, self._block_s)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker %s could not receive from %s", self.consumer, self.queue.name)
                await asyncio.sleep(self._block_s)  # the queue is down: do not spin
                continue
            for delivery in deliveries:
                task = asyncio.ensure_future(self._handle(delivery))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def stop(self, grace_s: float = 30.0) -> None:
        """Stop receiving and let running jobs finish (up to ``grace_s``; the rest are redelivered)."""
        self._stopping = True
        if self._loop_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._loop_task), timeout=self._block_s + 1)
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace_s)
        self.kill()

    def kill(self) -> None:
        """Abandon everything at once, as a crash would: no acks, no writes (the queue redelivers)."""
        self._stopping = True
        if self._loop_task is not None:
            self._loop_task.cancel()
        for task in list(self._tasks):
            task.cancel()

    @property
    def running(self) -> int:
        return len(self._tasks)

    # --- one delivery --------------------------------------------------------------------------

    async def _handle(self, delivery: Delivery) -> None:
        try:
            await self._process(delivery)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug or a store outage: leave it unacked, so it is redelivered later
            log.exception("worker %s failed on job %s", self.consumer, delivery.message.job_id)

    async def _process(self, delivery: Delivery) -> None:
        job = await self._jobs.get(delivery.message.job_id)
        if job is None or job.tenant != delivery.message.tenant:
            await self.queue.ack(delivery)  # expired or unknown: nothing to do
            return
        if job.terminal:
            if job.state is JobState.SUCCEEDED and not job.charged:
                await self._recorder.settle(job)  # the previous worker died between finishing and settling
            await self.queue.ack(delivery)
            return
        if delivery.deliveries > self._max_deliveries:
            reason = f"dead-lettered after {delivery.deliveries - 1} deliveries (its workers kept dying)"
            await self._recorder.fail(job, JobError(code="dead_lettered", message=reason, status=502))
            await self.queue.dead_letter(delivery, reason)
            return
        await self._run(job, delivery)
        await self.queue.ack(delivery)
        self.completed += 1

    async def _run(self, job: ImageJob, delivery: Delivery) -> None:
        avoid: set[str] = set()
        for attempt in range(self._retries + 1):
            async with self.pool.acquire(frozenset(avoid)) as member:
                started = await self._recorder.start(job, member.backend.name)
                if started is None:
                    return  # cancelled (or finished by another worker) meanwhile
                job = started
                try:
                    images = await self._generate(job, member, delivery)
                except _Cancelled:
                    return
                except AlfredError as exc:
                    if exc.retryable and attempt < self._retries:
                        log.info(
                            "job %s failed on %s (%s); retrying elsewhere", job.id, member.backend.name, exc
                        )
                        avoid.add(member.backend.name)
                        continue
                    await self._recorder.fail(
                        job, JobError(code=exc.code, message=exc.message, status=exc.status)
                    )
                    return
                except Exception as exc:
                    log.exception("backend %s crashed on job %s", member.backend.name, job.id)
                    await self._recorder.fail(
                        job,
                        JobError(code="backend_error", message=f"{type(exc).__name__}: {exc}", status=502),
                    )
                    return
            try:
                stored = [await self._store(image) for image in images]
            except Exception as exc:
                log.exception("could not store images of job %s", job.id)
                await self._recorder.fail(
                    job,
                    JobError(code="storage_error", message=f"storing the images failed: {exc}", status=502),
                )
                return
            await self._recorder.succeed(job, stored, self._price * len(stored))
            return

    async def _store(self, image: GeneratedImage) -> JobImage:
        blob = await self._blobs.put(image.data, image.media_type, prefix="images")
        return JobImage(key=blob.key, url=blob.url, media_type=blob.media_type, size=blob.size)

    async def _generate(self, job: ImageJob, member: PoolMember, delivery: Delivery) -> list[GeneratedImage]:
        spec = msgspec.structs.replace(job.spec, model=member.upstream_model)
        last_store = 0.0

        async def progress(fraction: float, message: str) -> None:
            nonlocal last_store
            now = time.monotonic()
            store = now - last_store >= _PROGRESS_STORE_S
            if store:
                last_store = now
            try:
                await self._recorder.progress(job, fraction, message, store)
            except Exception:  # progress is best effort; it must never fail the generation
                log.warning("progress of job %s not recorded", job.id, exc_info=True)

        generation = asyncio.ensure_future(member.backend.generate(spec, progress))
        watcher = asyncio.ensure_future(self._watch(job.id, delivery))
        try:
            done, _ = await asyncio.wait({generation, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
            if not generation.done():
                generation.cancel()  # this worker is being killed, or the job was cancelled
        if generation not in done:
            with contextlib.suppress(Exception):
                await member.backend.cancel()
            raise _Cancelled
        images = generation.result()
        if not images:
            raise AlfredError(
                "the backend returned no image", code="empty_result", status=502, retryable=True
            )
        if self._postprocess is not None:
            images = await self._postprocess(spec, images)
        return images

    async def _watch(self, job_id: str, delivery: Delivery) -> None:
        """Heart-beat the queue while the job runs; return when the client cancels it."""
        while True:
            await asyncio.sleep(self._heartbeat_s)
            try:
                await self.queue.touch(delivery)
                current = await self._jobs.get(job_id)
            except Exception:
                log.warning("heartbeat for job %s failed", job_id, exc_info=True)
                continue
            if current is None or current.state is JobState.CANCELLED:
                return
