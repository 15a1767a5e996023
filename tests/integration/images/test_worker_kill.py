"""A worker process killed with SIGKILL mid-job: the job is reclaimed, finished by another worker, charged once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from redis.asyncio import Redis

from alfred.images.jobs import ImageJob, JobState, new_job_id
from alfred.images.jobs_redis import RedisJobStore
from alfred.images.queue import QueueMessage
from alfred.images.queue_redis import RedisStreamQueue
from alfred.schema.images import GenerationSpec
from tests.integration.images.conftest import REDIS_URL
from tests.integration.images.reliability import QUEUE

ROOT = Path(__file__).resolve().parents[3]


@contextmanager
def worker_process(prefix: str, consumer: str, work_s: float) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.images.worker_process",
            REDIS_URL,
            prefix,
            consumer,
            str(work_s),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def test_sigkill_mid_job_is_reclaimed_finished_elsewhere_and_charged_once(
    prefix: str, clients: Callable[[], Redis]
) -> None:
    client = clients()
    store = RedisJobStore(client, prefix)
    queue = RedisStreamQueue(client, QUEUE, prefix=prefix, visibility_timeout_s=1.0)
    ids = []
    for i in range(12):
        job = ImageJob(
            id=new_job_id(),
            tenant="game",
            model="sdxl",
            spec=GenerationSpec(prompt=f"sword {i}", model="sdxl"),
        )
        await store.create(job)
        await queue.enqueue(QueueMessage(job.id, "game"))
        ids.append(job.id)

    async def running_on(consumer: str) -> ImageJob | None:
        for job_id in ids:
            job = await store.get(job_id)
            if job is not None and job.state is JobState.RUNNING and (job.backend or "").startswith(consumer):
                return job
        return None

    with worker_process(prefix, "victim", 0.3) as victim, worker_process(prefix, "survivor", 0.3):
        deadline = time.monotonic() + 30
        while (doomed := await running_on("victim")) is None:
            assert time.monotonic() < deadline and victim.poll() is None
            await asyncio.sleep(0.02)
        victim.send_signal(signal.SIGKILL)  # mid-job: no ack, no cleanup, nothing
        victim.wait(timeout=10)
        while True:
            jobs = [await store.get(job_id) for job_id in ids]
            if all(job is not None and job.terminal for job in jobs):
                break
            assert time.monotonic() < deadline + 30, "jobs left unfinished after the kill"
            await asyncio.sleep(0.05)
    charges = {k.decode(): int(v) for k, v in (await client.hgetall(f"{prefix}charges")).items()}
    finished = {job.id: job for job in jobs if job is not None}
    assert all(job.state is JobState.SUCCEEDED for job in finished.values())
    reclaimed = finished[doomed.id]
    assert reclaimed.attempts >= 2 and (reclaimed.backend or "").startswith("survivor")
    assert charges == {job_id: 1 for job_id in ids}, "every job charged exactly once"
    assert (await queue.depth()).total == 0
