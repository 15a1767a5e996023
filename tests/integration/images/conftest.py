"""Real Redis for the image pipeline's integration tests: unreachable Redis fails, never skips."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis

REDIS_URL = os.environ.get("ALFRED_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _require_redis() -> SyncRedis:
    client = SyncRedis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:
        pytest.fail(
            f"Redis must be running at {REDIS_URL} for these tests (or set ALFRED_TEST_REDIS_URL): {exc}"
        )
    return client


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix unique to this test; every key under it is deleted afterwards."""
    client = _require_redis()
    value = f"alfred-test:{uuid.uuid4().hex}:"
    try:
        yield value
    finally:
        keys = list(client.scan_iter(match=value + "*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture
async def clients() -> AsyncIterator[Callable[[], Redis]]:
    """Independent clients (own connection pools), as separate processes would have."""
    made: list[Redis] = []

    def make() -> Redis:
        client = Redis.from_url(REDIS_URL, socket_timeout=15, socket_connect_timeout=2)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()
