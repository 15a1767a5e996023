"""Real Redis for the state tests: unreachable Redis is a failure, never a skip."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from tests.integration.state.env import REDIS_URL


def _require_redis() -> SyncRedis:
    client = SyncRedis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:
        pytest.fail(
            f"Redis must be running at {REDIS_URL} for these tests (start it, or set ALFRED_TEST_REDIS_URL): {exc}"
        )
    return client


def _cleanup(client: SyncRedis, prefix: str) -> None:
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix unique to this test; everything under it is deleted afterwards."""
    client = _require_redis()
    value = f"alfred-test:{uuid.uuid4().hex}:"
    try:
        yield value
    finally:
        _cleanup(client, value)
        client.close()


@pytest.fixture
async def clients() -> AsyncIterator[Callable[[], Redis]]:
    """Makes independent clients (own connection pools), as separate gateway processes would have."""
    made: list[Redis] = []

    def make() -> Redis:
        client = Redis.from_url(REDIS_URL, socket_timeout=5)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()
