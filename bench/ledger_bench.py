"""Latency of the ledger's request path: reserve (the quota cascade) + settle, on SQLite and PostgreSQL.

    .venv/bin/python bench/ledger_bench.py [--ops 2000] [--pg-url postgresql+asyncpg://postgres@127.0.0.1/test]

Each backend gets a fresh, migrated database (a temporary file; a temporary PostgreSQL database that is
dropped afterwards). Operations run one after another, so the figures are per-request latency, not
throughput. Prints p50/p99 in milliseconds for reserve, settle, the pair, and a reserve that is released
(the failed-call path), plus the process CPU time per reserve + settle: on a shared machine that figure
moves far less than wall-clock latency does. Then, for throughput, ``--concurrency`` requests at once
(one process) reserve and settle ``--ops`` pairs: pairs per second.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from alfred.ledger import Ledger, LedgerSettings
from alfred.state.db import migrate


def _pct(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1] if len(samples) > 1 else samples[0]


async def _throughput(ledger: Ledger, user_id: int, ops: int, concurrency: int) -> float:
    """Reserve + settle pairs per second with ``concurrency`` requests in flight (one process)."""
    left = iter(range(ops))

    async def worker() -> None:
        for i in left:
            await ledger.governance.reserve(user_id, f"load-{i}", 5_000)
            await ledger.wallets.settle(f"load-{i}", 4_000, prompt_tokens=20, completion_tokens=5)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ops / (time.perf_counter() - t0)


async def run(url: str, ops: int, concurrency: int) -> dict[str, list[float]]:
    await migrate(url)
    # A throwaway HMAC secret: the benchmark creates no keys.
    ledger = Ledger.build(LedgerSettings(database_url=url), key_secret="bench-secret-of-16-bytes+")  # noqa: S106
    try:
        user = await ledger.directory.create_user("bench@x.io", "Bench", personal_quota=10**15)
        times: dict[str, list[float]] = {"reserve": [], "settle": [], "reserve+settle": [], "release": []}
        cpu = 0.0
        for i in range(ops + 50):  # the first 50 warm the pools and statement caches
            request_id = f"bench-{i}"
            c0 = time.process_time()
            t0 = time.perf_counter()
            await ledger.governance.reserve(user.id, request_id, 5_000)
            t1 = time.perf_counter()
            await ledger.wallets.settle(
                request_id, 4_000, model="gpt-4o-mini", prompt_tokens=20, completion_tokens=5
            )
            t2 = time.perf_counter()
            c1 = time.process_time()
            await ledger.governance.reserve(user.id, f"{request_id}-failed", 5_000)
            t3 = time.perf_counter()
            await ledger.wallets.release(f"{request_id}-failed")
            t4 = time.perf_counter()
            if i >= 50:
                times["reserve"].append((t1 - t0) * 1e3)
                times["settle"].append((t2 - t1) * 1e3)
                times["reserve+settle"].append((t2 - t0) * 1e3)
                times["release"].append((t4 - t3) * 1e3)
                cpu += c1 - c0
        times["cpu/pair"] = [cpu / ops * 1e3]
        times[f"pairs/s c={concurrency}"] = [await _throughput(ledger, user.id, ops, concurrency)]
        report = await ledger.check()
        assert report.healthy, report.summary()
        return times
    finally:
        await ledger.close()


def _admin_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight for pairs/s")
    args = parser.parse_args()

    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = await run(
            f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", args.ops, args.concurrency
        )
    if not args.skip_pg:
        name = f"alfred_bench_{uuid.uuid4().hex[:10]}"
        admin = await asyncpg.connect(_admin_dsn(args.pg_url))
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            results["postgresql"] = await run(
                make_url(args.pg_url).set(database=name).render_as_string(False), args.ops, args.concurrency
            )
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()

    print(
        f"{args.ops} sequential operations per backend (ms; cpu/pair: process CPU per reserve + settle;"
        " pairs/s: reserve + settle pairs per second with that many in flight)"
    )
    print(f"{'backend':<12}{'operation':<16}{'p50':>8}{'p99':>8}{'mean':>8}")
    for backend, times in results.items():
        for op, samples in times.items():
            if op.startswith("pairs/s"):
                print(f"{backend:<12}{op:<16}{samples[0]:>8.0f}")
                continue
            print(
                f"{backend:<12}{op:<16}{_pct(samples, 50):>8.3f}{_pct(samples, 99):>8.3f}{statistics.fmean(samples):>8.3f}"
            )


if __name__ == "__main__":
    asyncio.run(main())
