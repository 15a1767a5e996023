"""L1 (bounded LRU) and the two-level exact cache, with an in-memory L2 standing in for Redis."""

from __future__ import annotations

from alfred.cache.entry import CachedAnswer, decode_answer, encode_answer
from alfred.cache.exact import ExactCache, LruStore
from alfred.schema import ChatResponse, Choice, ResponseMessage
from alfred.state.memory import MemoryKeyValueStore


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def answer(text: str, stored_at: float, ttl_s: float = 60.0) -> CachedAnswer:
    response = ChatResponse(
        id="x", model="m", created=0, choices=[Choice(index=0, message=ResponseMessage(content=text))]
    )
    return CachedAnswer(response=response, stored_at=stored_at, ttl_s=ttl_s)


def test_lru_evicts_least_recently_used_by_count() -> None:
    lru = LruStore(max_entries=2, max_bytes=1 << 20)
    lru.put("a", b"1", 60)
    lru.put("b", b"2", 60)
    assert lru.get("a") == b"1"  # a is now the most recent
    lru.put("c", b"3", 60)
    assert lru.get("b") is None and lru.get("a") == b"1" and lru.get("c") == b"3"
    assert len(lru) == 2


def test_lru_is_bounded_by_bytes() -> None:
    lru = LruStore(max_entries=100, max_bytes=10)
    lru.put("a", b"12345", 60)
    lru.put("b", b"12345", 60)
    lru.put("c", b"123", 60)
    assert lru.get("a") is None and lru.size_bytes == 8
    lru.put("huge", b"x" * 11, 60)  # larger than the whole store: refused, nothing evicted
    assert lru.get("huge") is None and lru.get("b") == b"12345"


def test_lru_expires_and_replaces() -> None:
    clock = Clock()
    lru = LruStore(10, 1000, clock)
    lru.put("a", b"old", 5)
    lru.put("a", b"new", 5)
    assert lru.get("a") == b"new" and lru.size_bytes == 3
    clock.now += 6
    assert lru.get("a") is None and len(lru) == 0 and lru.size_bytes == 0


def test_entries_round_trip_and_garbage_is_a_miss() -> None:
    entry = answer("hello", 1.0)
    assert decode_answer(encode_answer(entry)) == entry
    assert decode_answer(b"\x00not msgpack") is None


async def test_l2_is_read_through_into_l1() -> None:
    clock = Clock()
    l2 = MemoryKeyValueStore(clock)
    writer = ExactCache(LruStore(10, 1 << 20, clock), l2, clock=clock)
    reader = ExactCache(LruStore(10, 1 << 20, clock), l2, clock=clock)  # another process
    assert await writer.put("k", answer("shared", clock.now))
    first = await reader.get("k")
    assert first is not None and first.level == "l2" and first.fresh
    second = await reader.get("k")
    assert second is not None and second.level == "l1"
    assert second.answer.response.choices[0].message.content == "shared"


async def test_each_hit_gets_its_own_copy() -> None:
    cache = ExactCache(LruStore(10, 1 << 20))
    import time

    await cache.put("k", answer("original", time.time()))
    first = await cache.get("k")
    assert first is not None
    first.answer.response.choices[0].message.content = "changed by a later stage"
    second = await cache.get("k")
    assert second is not None and second.answer.response.choices[0].message.content == "original"


async def test_fresh_then_stale_then_gone() -> None:
    clock = Clock()
    l2 = MemoryKeyValueStore(clock)
    cache = ExactCache(LruStore(10, 1 << 20, clock), l2, stale_ttl_s=100, clock=clock)
    await cache.put("k", answer("a", clock.now, ttl_s=10))
    clock.now += 11
    assert await cache.get("k") is None
    stale = await cache.get("k", allow_stale=True)
    assert stale is not None and not stale.fresh
    clock.now += 100
    assert await cache.get("k", allow_stale=True) is None
    assert await l2.get("k") is None  # L2 let it expire too


async def test_too_large_entries_are_not_stored() -> None:
    cache = ExactCache(LruStore(10, 1 << 20), max_entry_bytes=1024)
    import time

    assert not await cache.put("k", answer("x" * 5000, time.time()))
    assert await cache.get("k") is None


async def test_delete_removes_from_both_levels() -> None:
    clock = Clock()
    l2 = MemoryKeyValueStore(clock)
    cache = ExactCache(LruStore(10, 1 << 20, clock), l2, clock=clock)
    await cache.put("k", answer("a", clock.now))
    await cache.delete("k")
    assert await cache.get("k") is None and await l2.get("k") is None
