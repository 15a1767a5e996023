"""The issue's reliability test: 500 jobs through Redis Streams, two workers, random kills mid-job.

Every job must end succeeded or failed-with-reason, exactly once (one terminal write per job), every
success charged (the ledger stand-in is idempotent on job id, as the real one is; repeats of the call
are bounded by the number of kills), and the stream empty at the end.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from alfred.images.events import JobEvents
from alfred.images.jobs import JobState
from alfred.images.jobs_redis import RedisJobStore
from alfred.images.presets import PresetBook
from alfred.images.queue_redis import RedisStreamQueue
from alfred.images.recorder import JobRecorder
from alfred.images.router import QueueDepthRouter
from alfred.images.service import ImageService, ModelRoutes
from alfred.images.worker import ImageWorker
from alfred.schema.images import ImageRequest
from alfred.state.memory import MemoryPubSub
from tests.integration.images.reliability import QUEUE, CountingStore, make_worker
from tests.unit.images.fakes import Charges, MemoryBlobStore
from tests.unit.images.harness import image_settings

JOBS = 500


@pytest.mark.slow
async def test_500_jobs_two_workers_random_kills_every_job_ends_once(
    prefix: str, clients: Callable[[], Redis]
) -> None:
    rng = random.Random(20240607)
    settings = image_settings(
        models=[{"name": "sdxl", "primary": ["space-1", "space-2"]}], cache={"enabled": False}
    )
    endings: Counter[str] = Counter()
    blobs, charges = MemoryBlobStore(), Charges()

    # the gateway side: submits through the real service onto the Redis stream
    gateway = clients()
    queue = RedisStreamQueue(gateway, QUEUE, prefix=prefix, visibility_timeout_s=0.5)
    jobs = CountingStore(RedisJobStore(gateway, prefix), endings)
    recorder = JobRecorder(jobs, JobEvents(MemoryPubSub()))
    routes = {"sdxl": ModelRoutes(settings.models[0], queue, None, 4)}
    service = ImageService(
        settings, routes, QueueDepthRouter(threshold=10_000), recorder, blobs, PresetBook.builtin()
    )

    generation = 0

    def new_worker() -> ImageWorker:
        nonlocal generation
        generation += 1
        worker = make_worker(
            clients(), prefix, f"worker-{generation}", blobs, charges, endings, rng=rng, work_s=(0.02, 0.08)
        )
        worker.start()
        return worker

    workers = [new_worker(), new_worker()]
    ids = [(await service.submit("game", ImageRequest(prompt=f"weapon number {i}"))).id for i in range(JOBS)]
    assert all(job is not None for job in ids)

    kills = 0

    async def unfinished() -> int:
        async with gateway.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hget(f"{prefix}job:{job_id}", "state")
            states = await pipe.execute()
        return sum(1 for state in states if state not in (b"succeeded", b"failed", b"cancelled"))

    deadline = time.monotonic() + 180
    while await unfinished():
        assert time.monotonic() < deadline, "jobs still unfinished after 180 s"
        await asyncio.sleep(rng.uniform(0.03, 0.12))  # the chaos schedule: kill at random moments
        busy = [w for w in workers if w.running]
        if busy and kills < 40:
            victim = rng.choice(busy)
            victim.kill()  # mid-job: no ack, no writes, its stream entries stay pending
            kills += 1
            workers[workers.index(victim)] = new_worker()  # the supervisor restarts it
    while (await queue.depth()).total:
        assert time.monotonic() < deadline, "stream entries never acked"
        await asyncio.sleep(0.05)
    for worker in workers:
        await worker.stop(grace_s=2)

    final = [await jobs.get(job_id) for job_id in ids]
    states = Counter(job.state for job in final if job is not None)
    succeeded = {job.id for job in final if job is not None and job.state is JobState.SUCCEEDED}
    failed = [job for job in final if job is not None and job.state is JobState.FAILED]
    reclaimed = sum(1 for job in final if job is not None and job.attempts > 1)
    print(f"\n{JOBS} jobs: {dict(states)}, {kills} kills, {reclaimed} jobs finished after a reclaim")

    assert set(states) <= {JobState.SUCCEEDED, JobState.FAILED} and sum(states.values()) == JOBS
    # One terminal write per job. A write whose reply was lost because its worker was killed in that
    # very moment is not counted (at most one per job the victim held), hence the bound.
    assert max(endings[job_id] for job_id in ids) == 1, "a job was finished twice"
    assert sum(1 for job_id in ids if endings[job_id] == 0) <= 2 * kills
    assert all(job.error is not None and job.error.message for job in failed)
    assert {job.error.code for job in failed} <= {"upstream_refused", "dead_lettered"}  # type: ignore[union-attr]
    assert kills >= 10 and reclaimed >= 1
    assert set(charges.calls) == succeeded, "every success charged, nothing else"
    assert len(charges.calls) - len(set(charges.calls)) <= kills
    assert all(job.charged for job in final if job is not None and job.state is JobState.SUCCEEDED)
    assert all(image.key in blobs.objects for job in final if job is not None for image in job.images)
    dead = await queue.dead_letters(1000)
    assert len(dead) == sum(1 for job in failed if job.error and job.error.code == "dead_lettered")
