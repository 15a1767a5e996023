"""A scratch PostgreSQL database and Redis key prefix for the shared-mode governance target, and their removal."""

from __future__ import annotations

import asyncio
import os
import secrets
from dataclasses import dataclass

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass(frozen=True)
class Scratch:
    """Where the shared-mode target keeps its ledger and state; ``env`` is what its config reads."""

    database: str
    redis_prefix: str

    @property
    def env(self) -> dict[str, str]:
        base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
        return {
            "BENCH_PG_URL": f"{base}/{self.database}",
            "BENCH_REDIS_URL": REDIS_URL,
            "BENCH_REDIS_PREFIX": self.redis_prefix,
        }


async def _create(name: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL, socket_timeout=5)
    try:
        await client.ping()
    finally:
        await client.aclose()


def create() -> Scratch | str:
    """A fresh database and prefix, or why PostgreSQL or Redis cannot be used here."""
    token = secrets.token_hex(4)
    scratch = Scratch(f"alfred_bench_{token}", f"alfred-bench-{token}:")
    try:
        asyncio.run(_create(scratch.database))
    except ImportError as exc:
        return f"the postgres/redis extras are not installed ({exc.name})"
    except Exception as exc:  # asyncpg and redis errors share no narrower base
        return (
            f"PostgreSQL ({PG_ADMIN_URL}) or Redis ({REDIS_URL}) is not usable: {type(exc).__name__}: {exc}"
        )
    return scratch


async def _drop(scratch: Scratch) -> None:
    import asyncpg
    import redis.asyncio as aioredis

    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{scratch.database}" WITH (FORCE)')
    finally:
        await conn.close()
    client = aioredis.from_url(REDIS_URL, socket_timeout=5)
    try:
        keys = [key async for key in client.scan_iter(match=f"{scratch.redis_prefix}*", count=1000)]
        for start in range(0, len(keys), 500):
            await client.delete(*keys[start : start + 500])
    finally:
        await client.aclose()


def drop(scratch: Scratch) -> None:
    asyncio.run(_drop(scratch))
