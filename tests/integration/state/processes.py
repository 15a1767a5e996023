"""Start N worker processes, release them together, and collect what each one won."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from redis.asyncio import Redis

from tests.integration.state.env import REDIS_URL

WORKER = Path(__file__).with_name("worker.py")
ROOT = Path(__file__).resolve().parents[3]


async def race_processes(count: int, prefix: str, *worker_args: str) -> list[int]:
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(WORKER),
            "--url",
            REDIS_URL,
            "--prefix",
            prefix,
            *worker_args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        for _ in range(count)
    ]
    control = Redis.from_url(REDIS_URL, socket_timeout=180)  # BLPOP waits longer than the 5 s default
    try:
        for _ in range(count):  # every process connected and warmed up (BLPOP blocks; no sleeping)
            ready = await control.blpop([prefix + "barrier:ready"], timeout=120)
            assert ready is not None, "a worker process never became ready"
        await control.rpush(prefix + "barrier:go", *["go"] * count)
        results = []
        for proc in procs:
            out, err = await asyncio.wait_for(proc.communicate(), 120)
            assert proc.returncode == 0, err.decode()[-2000:]
            results.append(int(out.decode().strip()))
        return results
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        await control.aclose()
