"""A worker process for the kill -9 test: consumes the Redis stream until it is killed.

Usage: python -m tests.integration.images.worker_process REDIS_URL PREFIX CONSUMER WORK_S
Charges are counted in Redis (``{prefix}charges``, one HINCRBY per call), so the test sees every
process's calls.
"""

from __future__ import annotations

import asyncio
import random
import sys
from collections import Counter

from redis.asyncio import Redis

from alfred.images.jobs import ImageJob
from tests.integration.images.reliability import make_worker
from tests.unit.images.fakes import MemoryBlobStore


async def main(url: str, prefix: str, consumer: str, work_s: float) -> None:
    client = Redis.from_url(url, socket_timeout=15)

    async def charge(job: ImageJob) -> None:
        await client.hincrby(f"{prefix}charges", job.id, 1)

    worker = make_worker(
        client,
        prefix,
        consumer,
        MemoryBlobStore(),
        charge,
        Counter(),
        slots=1,
        visibility_s=1.0,
        work_s=(work_s, work_s),
        rng=random.Random(),
    )
    print("ready", flush=True)
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])))
