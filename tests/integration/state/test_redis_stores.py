from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from alfred.state import StateSettings, build_backend
from alfred.state.base import Charge, Limit
from alfred.state.redis import RedisKeyValueStore, RedisLocks, RedisPubSub
from tests.integration.state.env import REDIS_URL


async def test_kv(prefix: str, clients: Callable[[], Redis]) -> None:
    client = clients()
    kv = RedisKeyValueStore(client, prefix)
    assert await kv.get("a") is None
    assert await kv.set("a", b"1", ttl_s=30)
    assert not await kv.set("a", b"2", only_new=True)
    assert await kv.get("a") == b"1"
    assert 29_000 < await client.pttl(prefix + "kv:a") <= 30_000
    assert await kv.incr("n", 5, ttl_s=30) == 5
    await client.pexpire(prefix + "kv:n", 10_000)
    assert await kv.incr("n", 2, ttl_s=30) == 7
    assert await client.pttl(prefix + "kv:n") <= 10_000  # the expiry is set only on creation
    assert await kv.delete("a") and not await kv.delete("a")


async def test_locks_exclude_across_clients_and_release_only_their_own(
    prefix: str, clients: Callable[[], Redis]
) -> None:
    one, two = RedisLocks(clients(), prefix), RedisLocks(clients(), prefix)
    async with one.hold("job", ttl_s=30) as held:
        assert held
        async with two.hold("job", ttl_s=30, wait_s=0.05) as other:
            assert not other
    async with two.hold("job", ttl_s=30) as other:
        assert other


async def test_lock_waiter_gets_it_when_released(prefix: str, clients: Callable[[], Redis]) -> None:
    one, two = RedisLocks(clients(), prefix), RedisLocks(clients(), prefix)
    released = asyncio.Event()

    async def waiter() -> bool:
        async with two.hold("job", ttl_s=30, wait_s=10) as got:
            assert released.is_set()
            return got

    async with one.hold("job", ttl_s=30):
        task = asyncio.create_task(waiter())
        await asyncio.sleep(0.02)  # give the waiter time to find the lock taken (not a condition wait)
        released.set()
    assert await asyncio.wait_for(task, 10)


async def test_pubsub_between_clients(prefix: str, clients: Callable[[], Redis]) -> None:
    sender, receiver = RedisPubSub(clients(), prefix), RedisPubSub(clients(), prefix)
    async with receiver.subscribe("events") as messages:
        assert await sender.publish("events", b"breaker opened") == 1
        assert await asyncio.wait_for(anext(aiter(messages)), 5) == b"breaker opened"


async def test_backend_from_settings(prefix: str) -> None:
    settings = StateSettings.model_validate(
        {"backend": "redis", "redis": {"url": REDIS_URL, "key_prefix": prefix}}
    )
    backend = build_backend(settings)
    try:
        assert backend.kind == "redis"
        (decision,) = await backend.limiter.acquire([Charge("k", Limit(1, 60), 1)])
        assert decision.allowed
        assert not (await backend.limiter.acquire([Charge("k", Limit(1, 60), 1)]))[0].allowed
        assert (
            await backend.breakers.allow("d", __import__("alfred.state.base").state.base.BreakerPolicy())
        ).allowed
    finally:
        await backend.close()


def test_unreachable_redis_is_an_error_not_a_pass() -> None:
    settings = StateSettings.model_validate(
        {"backend": "redis", "redis": {"url": "redis://127.0.0.1:1/0", "connect_timeout_s": 0.2}}
    )

    async def attempt() -> None:
        backend = build_backend(settings)
        try:
            await backend.limiter.acquire([Charge("k", Limit(1, 60), 1)])
        finally:
            await backend.close()

    with pytest.raises(Exception, match=r"(?i)connect"):
        asyncio.run(attempt())
