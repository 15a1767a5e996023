"""Latency of the ledger's request path: reserve (the quota cascade) + settle, on SQLite and PostgreSQL.

    .venv/bin/python bench/ledger_bench.py [--ops 2000] [--pg-url postgresql+asyncpg://postgres@127.0.0.1/test]
        [--leases]

With ``--leases`` each backend runs credit leases off and on side by side (``alfred.ledger.leases``:
reserve from a leased block in memory, settle in one transaction): two ledgers on one database whose
operations alternate, so both see the same load. Request ids are ``fresh_id`` (as the ids a gateway
makes for requests that bring no ``X-Request-ID``): only those hold on leases. With ``--client-ids``
they are ids a client sent, which take the per-request path in both modes.

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
from alfred.ledger.settings import LeaseSettings
from alfred.state.db import migrate


def _pct(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1] if len(samples) > 1 else samples[0]


async def _throughput(
    ledger: Ledger, user_id: int, ops: int, concurrency: int, tag: str, *, fresh_id: bool
) -> tuple[float, float]:
    """Reserve + settle pairs per second with ``concurrency`` requests in flight (one process), and the
    process's CPU milliseconds per pair meanwhile (the writer thread's included)."""
    left = iter(range(ops))

    async def worker() -> None:
        for i in left:
            await ledger.governance.reserve(user_id, f"load-{tag}{i}", 5_000, fresh_id=fresh_id)
            await ledger.wallets.settle(f"load-{tag}{i}", 4_000, prompt_tokens=20, completion_tokens=5)

    c0 = time.process_time()
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ops / (time.perf_counter() - t0), (time.process_time() - c0) / ops * 1e3


async def _pair(
    ledger: Ledger, user_id: int, request_id: str, times: dict[str, list[float]], *, fresh_id: bool
) -> float:
    """One reserve + settle and one reserve + release; records the latencies, returns the CPU time."""
    c0 = time.process_time()
    t0 = time.perf_counter()
    await ledger.governance.reserve(user_id, request_id, 5_000, fresh_id=fresh_id)
    t1 = time.perf_counter()
    await ledger.wallets.settle(request_id, 4_000, model="gpt-4o-mini", prompt_tokens=20, completion_tokens=5)
    t2 = time.perf_counter()
    c1 = time.process_time()
    await ledger.governance.reserve(user_id, f"{request_id}-failed", 5_000, fresh_id=fresh_id)
    t3 = time.perf_counter()
    await ledger.wallets.release(f"{request_id}-failed")
    t4 = time.perf_counter()
    times["reserve"].append((t1 - t0) * 1e3)
    times["settle"].append((t2 - t1) * 1e3)
    times["reserve+settle"].append((t2 - t0) * 1e3)
    times["release"].append((t4 - t3) * 1e3)
    return c1 - c0


async def run(
    url: str, ops: int, concurrency: int, modes: list[bool], *, fresh_ids: bool = True
) -> dict[str, dict[str, list[float]]]:
    """Each mode (leases off, on) gets its own ledger and user on the same database; their operations
    alternate, so both see the same machine load and the same database size."""
    await migrate(url)
    # A throwaway HMAC secret: the benchmark creates no keys.
    ledgers = {
        leases: Ledger.build(
            LedgerSettings(database_url=url, leases=LeaseSettings(enabled=leases)),
            key_secret="bench-secret-of-16-bytes+",  # noqa: S106  # pragma: allowlist secret
        )
        for leases in modes
    }
    try:
        users = {
            leases: await ledger.directory.create_user(f"bench-{leases}@x.io", "Bench", personal_quota=10**15)
            for leases, ledger in ledgers.items()
        }
        times = {
            leases: {"reserve": [], "settle": [], "reserve+settle": [], "release": []} for leases in modes
        }
        cpu = dict.fromkeys(modes, 0.0)
        for i in range(ops + 50):  # the first 50 warm the pools and statement caches
            for leases, ledger in ledgers.items():
                sample: dict[str, list[float]] = {k: [] for k in times[leases]}
                spent = await _pair(
                    ledger, users[leases].id, f"bench-{leases}-{i}", sample, fresh_id=fresh_ids
                )
                if i >= 50:
                    for k, v in sample.items():
                        times[leases][k] += v
                    cpu[leases] += spent
        for leases, ledger in ledgers.items():
            times[leases]["cpu/pair"] = [cpu[leases] / ops * 1e3]
            throughput, cpu_ms = await _throughput(
                ledger, users[leases].id, ops, concurrency, f"{leases}-", fresh_id=fresh_ids
            )
            times[leases][f"pairs/s c={concurrency}"] = [throughput]
            times[leases][f"cpu/pair c={concurrency}"] = [cpu_ms]
        report = await next(iter(ledgers.values())).check()  # open leases included
        assert report.healthy, report.summary()
        return {("leases" if leases else "per-request"): t for leases, t in times.items()}
    finally:
        for ledger in ledgers.values():
            await ledger.close()


def _admin_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight for pairs/s")
    parser.add_argument(
        "--leases", action="store_true", help="run each backend with credit leases off and on, alternating"
    )
    parser.add_argument("--client-ids", action="store_true", help="request ids as a client sends them")
    args = parser.parse_args()
    fresh = not args.client_ids
    modes = [False, True] if args.leases else [False]

    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        for mode, times in (await run(url, args.ops, args.concurrency, modes, fresh_ids=fresh)).items():
            results[f"sqlite {mode}" if args.leases else "sqlite"] = times
    if not args.skip_pg:
        name = f"alfred_bench_{uuid.uuid4().hex[:10]}"
        admin = await asyncpg.connect(_admin_dsn(args.pg_url))
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = make_url(args.pg_url).set(database=name).render_as_string(False)
            for mode, times in (await run(url, args.ops, args.concurrency, modes, fresh_ids=fresh)).items():
                results[f"pg {mode}" if args.leases else "postgresql"] = times
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()

    print(
        f"{args.ops} sequential operations per backend (ms; cpu/pair: process CPU per reserve + settle;"
        " pairs/s: reserve + settle pairs per second with that many in flight, cpu/pair c=N: the CPU per"
        " pair meanwhile)"
    )
    print(f"{'backend':<20}{'operation':<16}{'p50':>8}{'p99':>8}{'mean':>8}")
    for backend, times in results.items():
        for op, samples in times.items():
            if op.startswith("pairs/s"):
                print(f"{backend:<20}{op:<16}{samples[0]:>8.0f}")
                continue
            if op.startswith("cpu/pair c="):
                print(f"{backend:<20}{op:<16}{samples[0]:>8.3f}")
                continue
            print(
                f"{backend:<20}{op:<16}{_pct(samples, 50):>8.3f}{_pct(samples, 99):>8.3f}{statistics.fmean(samples):>8.3f}"
            )


if __name__ == "__main__":
    asyncio.run(main())
