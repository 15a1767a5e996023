"""Flushing a model group: generations in the keys, the sub-second generation cache, per-group counts.

"Processes" here are separate caches and stages sharing one in-memory key-value store (as L2 and as
the generation store); tests/integration/cache/test_flush_redis.py runs the same over real Redis.
"""

from __future__ import annotations

import pytest

from alfred.cache.build import Caches, build_caches
from alfred.cache.counters import CacheCounters
from alfred.cache.embedder import MiniLMEmbedder
from alfred.cache.exact import ExactCache, LruStore
from alfred.cache.generations import Generations
from alfred.cache.groups import cached_groups, flush, summarize
from alfred.cache.index import VectorIndex
from alfred.cache.keys import exact_key, group_of, semantic_query
from alfred.cache.semantic import SemanticCache
from alfred.cache.settings import CacheSettings
from alfred.pipeline import Pipeline
from alfred.pipeline.cache import CacheStage
from alfred.pipeline.metering import MeteredHandler
from alfred.state.memory import MemoryKeyValueStore
from tests.unit.cache.support import Upstream, chat, finish, make_call
from tests.unit.images.fakes import VirtualClock

SETTINGS = CacheSettings(enabled=True)


class Process:
    """One gateway process: its own L1 and generation cache, the shared store behind both."""

    def __init__(self, shared: MemoryKeyValueStore, clock: VirtualClock, ttl_s: float = 0.5) -> None:
        self.exact = ExactCache(LruStore(100, 1 << 20), shared)
        self.generations = Generations(shared, ttl_s=ttl_s, clock=clock)
        self.counters = CacheCounters()
        self.caches = Caches(self.exact, None, SETTINGS, self.generations, self.counters)
        self.upstream = Upstream()
        self.stage = CacheStage(SETTINGS, self.exact, generations=self.generations, counters=self.counters)
        self.pipeline = Pipeline([self.stage], MeteredHandler(self.upstream))

    async def ask(self, text: str, model: str = "gpt-test") -> str | None:
        call = make_call(chat(text, model=model))
        await self.pipeline.run(call)
        await finish(call)
        return call.cache_status


def test_keys_carry_group_and_generation() -> None:
    request = chat(model="team:gpt")  # a colon in the group name must not confuse the parse
    key = exact_key(request, "team:a", 7)
    assert key.startswith("team:gpt:g7:") and group_of(key) == ("team:gpt", 7)
    assert exact_key(request, "team:a", 7) != exact_key(request, "team:a", 8)
    query = semantic_query(request, "team:a", 3)
    assert query is not None and group_of(query.scope) == ("team:gpt", 3)
    assert semantic_query(request, "team:a", 4) != query
    assert group_of("sem:0123abcd") is None and group_of("no-colons") is None
    assert group_of("gpt:gx:abc") is None


async def test_generations_are_cached_for_their_ttl_then_reread() -> None:
    store, clock = MemoryKeyValueStore(), VirtualClock()
    mine, theirs = Generations(store, ttl_s=0.5, clock=clock), Generations(store, ttl_s=0.5, clock=clock)
    assert await theirs.current("g") == 0
    assert await mine.bump("g") == 1
    assert await mine.current("g") == 1  # the flushing process sees it at once
    assert await theirs.current("g") == 0  # the other one keeps what it read for the TTL ...
    clock.advance(0.5)
    assert await theirs.current("g") == 1  # ... and no longer
    assert await theirs.read("g") == 1 and await theirs.current("other") == 0


def test_generation_ttl_is_at_most_a_second() -> None:
    with pytest.raises(ValueError):
        Generations(MemoryKeyValueStore(), ttl_s=1.5)


async def test_a_failing_store_keeps_the_last_generation() -> None:
    class Broken(MemoryKeyValueStore):
        fail = False

        async def get(self, key: str) -> bytes | None:
            if self.fail:
                raise ConnectionError("store down")
            return await super().get(key)

    store, clock = Broken(), VirtualClock()
    generations = Generations(store, ttl_s=0.5, clock=clock)
    await generations.bump("g")
    clock.advance(1)
    store.fail = True
    assert await generations.current("g") == 1
    with pytest.raises(ConnectionError):
        await generations.read("g")


async def test_flush_reaches_another_process_within_the_ttl_and_spares_other_groups() -> None:
    shared, clock = MemoryKeyValueStore(), VirtualClock()
    one, two = Process(shared, clock), Process(shared, clock)
    assert await one.ask("q1") == "miss"
    assert await one.ask("q2", model="other") == "miss"
    assert await two.ask("q1") == "hit"  # through the shared L2
    assert await two.ask("q2", model="other") == "hit"

    flushed = await flush(one.caches, "gpt-test")
    assert (flushed.group, flushed.generation, flushed.exact_entries_dropped) == ("gpt-test", 1, 1)
    assert await one.ask("q1") == "miss"  # the flushing process at once
    assert await one.ask("q2", model="other") == "hit"  # another group survives
    assert await two.ask("q1", model="gpt-test") == "hit"  # inside two's generation TTL: old entries
    clock.advance(0.5)
    assert await two.ask("q1") == "hit"  # now generation 1: what one stored after the flush
    assert one.upstream.calls == 3 and two.upstream.calls == 0
    assert await two.ask("q2", model="other") == "hit"


async def test_counts_and_hit_rates_per_group() -> None:
    shared, clock = MemoryKeyValueStore(), VirtualClock()
    one = Process(shared, clock)
    for text in ("a", "b", "a", "a"):
        await one.ask(text)
    await one.ask("c", model="other")
    groups = cached_groups(one.caches, ["gpt-test", "other", "never-used"])
    assert groups == ["gpt-test", "never-used", "other"]
    summary = {s.group: s for s in await summarize(one.caches, groups)}
    mine = summary["gpt-test"]
    assert (mine.exact_entries, mine.semantic_entries, mine.lookups) == (2, 0, 4)
    assert (mine.exact_hit_rate, mine.semantic_hit_rate) == (0.5, 0.0)
    unused = summary["never-used"]
    assert (unused.exact_entries, unused.exact_hit_rate, unused.semantic_hit_rate) == (0, None, None)
    await flush(one.caches, "gpt-test")
    after = {s.group: s for s in await summarize(one.caches, groups)}
    assert after["gpt-test"].exact_entries == 0 and after["gpt-test"].generation == 1
    assert after["other"].exact_entries == 1


async def test_counts_leave_out_old_generations_other_processes_still_hold() -> None:
    shared, clock = MemoryKeyValueStore(), VirtualClock()
    one, two = Process(shared, clock), Process(shared, clock)
    await one.ask("a")
    await two.ask("a")  # copied into two's L1
    await flush(one.caches, "gpt-test")
    clock.advance(0.5)
    (summary,) = await summarize(two.caches, ["gpt-test"])
    assert summary.generation == 1 and summary.exact_entries == 0
    assert sum(two.exact.count_by_group().values()) == 1  # still in memory, waiting to age out


def test_groups_with_caching_off_are_not_listed() -> None:
    settings = CacheSettings(enabled=True, groups={"private": {"enabled": False}, "extra": {"ttl_s": 5}})
    caches = build_caches(settings)
    assert cached_groups(caches, ["private", "public"]) == ["extra", "public"]


async def test_build_caches_keeps_generations_in_the_state_store() -> None:
    state = MemoryKeyValueStore()
    caches = build_caches(SETTINGS, state_kv=state)
    await flush(caches, "gpt-test")
    assert await state.get("cache:gen:gpt-test") == b"1"


async def test_flush_drops_semantic_entries_of_the_group_only(minilm: MiniLMEmbedder) -> None:
    settings = CacheSettings(enabled=True, semantic={"enabled": True})
    exact = ExactCache(LruStore(100, 1 << 20))
    semantic = SemanticCache(minilm, exact, index=VectorIndex(384, 100))
    caches = Caches(exact, semantic, settings, Generations(MemoryKeyValueStore()), CacheCounters())
    stage = CacheStage(settings, exact, semantic, generations=caches.generations, counters=caches.counters)
    upstream = Upstream()
    pipeline = Pipeline([stage], MeteredHandler(upstream))

    async def ask(text: str, model: str = "gpt-test") -> str | None:
        call = make_call(chat(text, model=model))
        await pipeline.run(call)
        await finish(call)
        return call.cache_status

    assert await ask("How do I undo the last git commit?") == "miss"
    assert await ask("How do I undo the last git commit?", model="other") == "miss"
    assert await ask("How can I undo my last commit in git?") == "semantic-hit"
    before = {s.group: s for s in await summarize(caches, ["gpt-test", "other"])}
    assert before["gpt-test"].semantic_entries == 1 and before["gpt-test"].semantic_hit_rate == 0.5
    flushed = await flush(caches, "gpt-test")
    assert flushed.semantic_entries_dropped == 1 and flushed.exact_entries_dropped == 1
    assert len(semantic.index) == 1  # the other group's question stays
    assert await ask("How can I undo my last commit in git?") == "miss"
    assert await ask("How can I undo my last commit in git?", model="other") == "semantic-hit"
