"""Pieces the reliability tests share: a job store that counts endings, and a worker 'process' over Redis."""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from decimal import Decimal

from redis.asyncio import Redis

from alfred.errors import AlfredError
from alfred.images.events import JobEvents
from alfred.images.jobs import TERMINAL, ImageJob, JobState, JobStore
from alfred.images.jobs_redis import RedisJobStore
from alfred.images.pool import BackendPool, PoolMember
from alfred.images.queue_redis import RedisStreamQueue
from alfred.images.recorder import ChargeCallback, JobRecorder
from alfred.images.worker import ImageWorker
from alfred.schema.images import GenerationSpec
from alfred.state.memory import MemoryPubSub
from alfred.storage.blobs import BlobStore
from tests.unit.images.fakes import FakeBackend

QUEUE = "sdxl.primary"


class CountingStore:
    """Wraps a JobStore and counts, per job, the writes that ended it (there must be exactly one)."""

    def __init__(self, inner: JobStore, endings: Counter[str]) -> None:
        self._inner = inner
        self.endings = endings

    async def create(self, job: ImageJob) -> None:
        await self._inner.create(job)

    async def get(self, job_id: str) -> ImageJob | None:
        return await self._inner.get(job_id)

    async def get_for(self, tenant: str, job_id: str) -> ImageJob | None:
        return await self._inner.get_for(tenant, job_id)

    async def transition(self, job: ImageJob, allowed_from: frozenset[JobState]) -> bool:
        written = await self._inner.transition(job, allowed_from)
        if written and job.state in TERMINAL and not allowed_from <= TERMINAL:
            self.endings[job.id] += 1
        return written

    async def close(self) -> None:
        await self._inner.close()


def refuses(spec: GenerationSpec) -> AlfredError | None:
    """About one prompt in 25 is refused by the 'upstream' (a clean failure with a reason)."""
    if hashlib.sha256(spec.prompt.encode()).digest()[0] % 25 == 0:
        return AlfredError(
            "the model refused this prompt", code="upstream_refused", status=422, retryable=False
        )
    return None


def make_worker(
    client: Redis,
    prefix: str,
    consumer: str,
    blobs: BlobStore,
    charge: ChargeCallback,
    endings: Counter[str],
    *,
    slots: int = 2,
    visibility_s: float = 0.5,
    work_s: tuple[float, float] = (0.005, 0.03),
    rng: random.Random | None = None,
) -> ImageWorker:
    """One worker 'process': its own Redis connection, its own backends, the shared Redis stream."""
    rng = rng or random.Random()
    queue = RedisStreamQueue(client, QUEUE, prefix=prefix, visibility_timeout_s=visibility_s)
    jobs = CountingStore(RedisJobStore(client, prefix), endings)
    recorder = JobRecorder(jobs, JobEvents(MemoryPubSub()), charge=charge)
    members = [
        PoolMember(
            FakeBackend(name=f"{consumer}-gpu{i}", work_s=rng.uniform(*work_s), fail_when=refuses), "sdxl"
        )
        for i in range(slots)
    ]
    return ImageWorker(
        queue,
        BackendPool(members),
        recorder,
        blobs,
        consumer=consumer,
        price_per_image=Decimal("0.001"),
        max_deliveries=5,
        retries=1,
        heartbeat_s=visibility_s / 5,
        block_s=0.1,
    )
