"""Measures the authenticator behind the auth stage on a real ledger (SQLite in a temporary directory):
a cached API-key hit, the master key, a cached JWT, an API-key miss (one database lookup), and the
steady state of one hot key under the default 1 s cache TTL.

    .venv/bin/python bench/auth_bench.py [--calls 50000]

Prints one JSON document. One process, one call at a time: per-call cost, not throughput under load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import jwt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from alfred.governance.authenticator import Authenticator  # noqa: E402
from alfred.governance.jwt import JwtVerifier  # noqa: E402
from alfred.governance.settings import AuthSettings, JwtSettings  # noqa: E402
from alfred.ledger import Ledger, LedgerSettings  # noqa: E402
from alfred.pipeline.call import Identity  # noqa: E402
from alfred.state.db import migrate  # noqa: E402

MASTER = "sk-master-bench-0123456789"
JWT_SECRET = "bench-hs256-secret-of-32-bytes-or-more"  # noqa: S105  # pragma: allowlist secret (a throwaway bench secret)


async def per_call_us(fn: Callable[[], Awaitable[Identity]], calls: int) -> dict[str, float]:
    """Mean over one timed loop, and p50/p99 of individually timed calls."""
    for _ in range(min(calls, 1000)):
        await fn()
    start = time.perf_counter_ns()
    for _ in range(calls):
        await fn()
    mean = (time.perf_counter_ns() - start) / calls / 1e3
    samples = []
    for _ in range(min(calls, 20_000)):
        t = time.perf_counter_ns()
        await fn()
        samples.append((time.perf_counter_ns() - t) / 1e3)
    samples.sort()
    return {
        "mean_us": round(mean, 2),
        "p50_us": round(samples[len(samples) // 2], 2),
        "p99_us": round(samples[int(len(samples) * 0.99)], 2),
    }


async def main(calls: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/ledger.db"
        await migrate(url)
        ledger = Ledger.build(LedgerSettings(database_url=url), key_secret="bench-key-hash-secret-0123456789")  # noqa: S106
        try:
            user = await ledger.directory.create_user("bench@example.com", "Bench")
            created = await ledger.keys.create(user.id, "bench", allowed_models=["gpt-4o"], rpm_limit=600)
            verifier = JwtVerifier(JwtSettings(enabled=True, secret=JWT_SECRET), secret=JWT_SECRET)

            def build(ttl_s: float) -> Authenticator:
                settings = AuthSettings(key_cache_ttl_s=ttl_s)
                return Authenticator(
                    settings, ledger.keys, directory=ledger.directory, master_key=MASTER, jwt=verifier
                )

            hot = build(60.0)  # nothing expires during the loop: pure cache hits
            key_headers = {"authorization": f"Bearer {created.key}"}
            token = jwt.encode({"sub": "bench@example.com", "exp": int(time.time()) + 3600}, JWT_SECRET)
            jwt_headers = {"authorization": f"Bearer {token}"}
            master_headers = {"x-api-key": MASTER}
            results: dict[str, object] = {
                "cached_key": await per_call_us(lambda: hot.authenticate(key_headers), calls),
                "cached_jwt": await per_call_us(lambda: hot.authenticate(jwt_headers), calls),
                "master_key": await per_call_us(lambda: hot.authenticate(master_headers), calls),
            }

            async def miss() -> Identity:
                hot.invalidate_key(created.info.id)
                return await hot.authenticate(key_headers)

            results["key_miss_sqlite"] = await per_call_us(miss, min(calls, 2000))

            default = build(1.0)  # the default TTL: one database lookup per second for a hot key
            start = time.perf_counter()
            served = 0
            while time.perf_counter() - start < 3.0:
                await default.authenticate(key_headers)
                served += 1
            results["hot_key_default_ttl_mean_us"] = round((time.perf_counter() - start) / served * 1e6, 2)
            results["calls"] = calls
            results["python"] = sys.version.split()[0]
            return results
        finally:
            await ledger.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=50_000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.calls)), indent=2))
