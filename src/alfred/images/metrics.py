"""What the image pipeline reports to Prometheus: jobs by route and outcome, generation time, queue depth.

The pipeline records through the small ``ImageMetrics`` protocol (``GatewayMetrics`` satisfies it), so
nothing here imports prometheus_client. Queue depth is set whenever the router reads it and, so that
a pool nobody submits to still shows its backlog draining, by ``DepthPoller`` every few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Protocol

from alfred.images.jobs import ImageJob, JobState
from alfred.images.queue import JobQueue

log = logging.getLogger("alfred.images")

DEPTH_POLL_S = 10.0


class ImageMetrics(Protocol):
    def queue_depth(self, pool: str, depth: int) -> None: ...

    def image_job(self, route: str, outcome: str, seconds: float) -> None: ...


def outcome_of(job: ImageJob) -> str:
    """ok, cancelled, timeout or error: the label for a job that has ended."""
    if job.state is JobState.SUCCEEDED:
        return "ok"
    if job.state is JobState.CANCELLED:
        return "cancelled"
    if job.error is not None and "timeout" in job.error.code:
        return "timeout"
    return "error"


def record_job(metrics: ImageMetrics, job: ImageJob) -> None:
    """One ended job: its route (none when it never got one), outcome and generation time."""
    seconds = 0.0
    if job.started_at is not None and job.finished_at is not None:
        seconds = max(0.0, job.finished_at - job.started_at)
    metrics.image_job(job.route.value if job.route is not None else "none", outcome_of(job), seconds)


class DepthPoller:
    """Sets every queue's depth gauge every ``interval_s`` until stopped."""

    def __init__(self, metrics: ImageMetrics, queues: Sequence[JobQueue], interval_s: float = DEPTH_POLL_S):
        self._metrics = metrics
        self._queues = list(queues)
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def poll_once(self) -> None:
        for queue in self._queues:
            try:
                depth = await queue.depth()
            except Exception:  # a queue that is down now is measured again next round
                log.warning("could not read the depth of queue %s", queue.name, exc_info=True)
                continue
            self._metrics.queue_depth(queue.name, depth.total)

    async def _loop(self) -> None:
        while True:
            await self.poll_once()
            await asyncio.sleep(self._interval_s)

    async def start(self) -> None:
        if self._task is None and self._queues:
            self._task = asyncio.create_task(self._loop(), name="alfred-image-queue-depth")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
