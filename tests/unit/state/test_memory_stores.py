from __future__ import annotations

import asyncio

from alfred.state import StateSettings, build_backend, memory_backend
from alfred.state.memory import MemoryKeyValueStore, MemoryLocks, MemoryPubSub
from tests.unit.state.programs import VirtualClock


async def test_kv_expiry_only_new_and_counters() -> None:
    clock = VirtualClock()
    kv = MemoryKeyValueStore(clock, sweep_interval_s=1)
    assert await kv.set("a", b"1", ttl_s=2)
    assert not await kv.set("a", b"2", only_new=True)
    assert await kv.get("a") == b"1"
    clock.advance(2_000)
    assert await kv.get("a") is None
    assert await kv.set("a", b"3", only_new=True)
    assert await kv.incr("n", 5, ttl_s=10) == 5
    clock.advance(9_000)
    assert await kv.incr("n", 1, ttl_s=10) == 6  # the expiry is not pushed back
    clock.advance(1_000)
    assert await kv.get("n") is None
    assert await kv.incr("n") == 1
    assert await kv.delete("a") and not await kv.delete("a")


async def test_kv_sweep_drops_expired_keys_nobody_reads() -> None:
    clock = VirtualClock()
    kv = MemoryKeyValueStore(clock, sweep_interval_s=5)
    for i in range(50):
        await kv.set(f"k{i}", b"x", ttl_s=1)
    clock.advance(6_000)
    await kv.set("fresh", b"y")
    assert len(kv._data) == 1


async def test_lock_excludes_waits_and_lease_lapses() -> None:
    clock = VirtualClock()
    locks = MemoryLocks(clock)
    order: list[str] = []

    async with locks.hold("job", ttl_s=30) as held:
        assert held
        async with locks.hold("job", ttl_s=30) as second:
            assert not second  # no wait: refused at once

        async def waiter() -> None:
            async with locks.hold("job", ttl_s=30, wait_s=5) as got:
                order.append(f"waiter:{got}")

        task = asyncio.create_task(waiter())
        await asyncio.sleep(0)  # let the waiter block on the held lock
        order.append("holder done")
    await asyncio.wait_for(task, 5)
    assert order == ["holder done", "waiter:True"]

    # a holder that never releases: its lease lapses on the clock
    manager = locks.hold("stuck", ttl_s=10)
    assert await manager.__aenter__()
    clock.advance(10_000)
    async with locks.hold("stuck", ttl_s=10) as taken:
        assert taken
        await manager.__aexit__(None, None, None)  # a late release must not free the new holder's lease
        async with locks.hold("stuck", ttl_s=10) as again:
            assert not again


async def test_pubsub_fans_out_to_current_subscribers() -> None:
    pubsub = MemoryPubSub(queue_size=2)
    assert await pubsub.publish("ch", b"nobody") == 0
    async with pubsub.subscribe("ch") as first, pubsub.subscribe("ch") as second:
        assert await pubsub.publish("ch", b"one") == 2
        assert await anext(aiter(first)) == b"one"
        assert await anext(aiter(second)) == b"one"
        for m in (b"a", b"b", b"c"):
            await pubsub.publish("ch", m)
        assert [await anext(aiter(first)), await anext(aiter(first))] == [b"b", b"c"]  # oldest dropped
    assert await pubsub.publish("ch", b"gone") == 0


async def test_memory_backend_from_settings() -> None:
    backend = build_backend(StateSettings())
    assert backend.kind == "memory"
    await backend.close()
    assert memory_backend().kind == "memory"
