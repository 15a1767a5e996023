"""The caches over real Redis: L2 shared between processes, semantic entries shared, TTLs, outages."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from alfred.cache.build import build_caches
from alfred.cache.embedder import MiniLMEmbedder
from alfred.cache.entry import CachedAnswer
from alfred.cache.exact import ExactCache, LruStore
from alfred.cache.keys import SemanticQuery
from alfred.cache.redis_log import RedisSemanticLog
from alfred.cache.settings import CacheSettings
from alfred.pipeline import Pipeline
from alfred.pipeline.cache import CacheStage
from alfred.pipeline.metering import MeteredHandler
from alfred.schema import ChatResponse, Choice, ResponseMessage
from alfred.state.redis import RedisKeyValueStore
from tests.unit.cache.support import Upstream, chat, finish, make_call


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def answer(text: str, ttl_s: float = 300) -> CachedAnswer:
    response = ChatResponse(
        id="x", model="m", created=0, choices=[Choice(index=0, message=ResponseMessage(content=text))]
    )
    return CachedAnswer(response=response, stored_at=time.time(), ttl_s=ttl_s)


async def test_l2_is_shared_between_processes_with_its_ttl(prefix: str, clients: Callable[[], Redis]) -> None:
    one, two = clients(), clients()
    first = ExactCache(LruStore(10, 1 << 20), RedisKeyValueStore(one, prefix), stale_ttl_s=100)
    second = ExactCache(LruStore(10, 1 << 20), RedisKeyValueStore(two, prefix), stale_ttl_s=100)
    assert await first.put("k", answer("from process one", ttl_s=300))
    found = await second.get("k")
    assert found is not None and found.level == "l2"
    assert found.answer.response.choices[0].message.content == "from process one"
    pttl = await one.pttl(prefix + "kv:k")
    assert 395_000 < pttl <= 400_000  # fresh 300 s + stale window 100 s


async def test_redis_outage_is_a_miss_not_an_error() -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2, socket_timeout=0.2)
    try:
        cache = ExactCache(LruStore(10, 1 << 20), RedisKeyValueStore(dead, "x:"))
        assert await cache.get("k") is None
        assert not await cache.put("k", answer("kept locally"))
        found = await cache.get("k")  # L1 still has it
        assert found is not None and found.level == "l1"
    finally:
        await dead.aclose()


async def test_semantic_entries_reach_other_processes(
    prefix: str, clients: Callable[[], Redis], minilm: MiniLMEmbedder
) -> None:
    settings = CacheSettings(enabled=True, backend="redis", semantic={"enabled": True, "sync_interval_s": 0})

    def process() -> CacheStage:
        client = clients()
        caches = build_caches(
            settings,
            kv=RedisKeyValueStore(client, prefix),
            redis=client,
            redis_prefix=prefix,
            embedder=minilm,
        )
        return CacheStage(settings, caches.exact, caches.semantic)

    a, b = process(), process()
    upstream = Upstream()
    first = make_call(chat("How do I undo the last git commit?"))
    await Pipeline([a], MeteredHandler(upstream)).run(first)
    await finish(first)
    # Process b has never seen the question: the exact answer comes from L2 ...
    exact = make_call(chat("How do I undo the last git commit?"))
    await Pipeline([b], MeteredHandler(upstream)).run(exact)
    assert exact.cache_status == "hit"
    # ... and a rephrasing finds the vector process a logged, and the answer in Redis.
    rephrased = make_call(chat("How can I undo my last commit in git?"))
    result = await Pipeline([b], MeteredHandler(upstream)).run(rephrased)
    assert rephrased.cache_status == "semantic-hit" and upstream.calls == 1
    assert isinstance(result, ChatResponse)
    assert result.choices[0].message.content == "answer to: How do I undo the last git commit? (#1)"


async def test_a_new_process_warms_its_index_from_the_log(
    prefix: str, clients: Callable[[], Redis], minilm: MiniLMEmbedder
) -> None:
    settings = CacheSettings(enabled=True, backend="redis", semantic={"enabled": True})
    client = clients()
    writer = build_caches(
        settings, kv=RedisKeyValueStore(client, prefix), redis=client, redis_prefix=prefix, embedder=minilm
    )
    assert writer.semantic is not None
    for i, question in enumerate(
        ["Why is the sky blue?", "Who painted the Mona Lisa?", "What is a hash table?"]
    ):
        _, probe = await writer.semantic.lookup(SemanticQuery("scope", question), 0.95)
        await writer.semantic.store(probe, answer(f"answer {i}"))
    other = clients()
    reader = build_caches(
        settings, kv=RedisKeyValueStore(other, prefix), redis=other, redis_prefix=prefix, embedder=minilm
    )
    assert reader.semantic is not None and len(reader.semantic.index) == 0
    await reader.start()
    assert len(reader.semantic.index) == 3
    hit, _ = await reader.semantic.lookup(
        SemanticQuery("scope", "Who was the painter of the Mona Lisa?"), 0.95
    )
    assert hit is not None and hit.answer.response.choices[0].message.content == "answer 1"


async def test_the_log_is_bounded(prefix: str, clients: Callable[[], Redis]) -> None:
    client = clients()
    log = RedisSemanticLog(client, prefix, max_entries=10)
    for i in range(500):
        await log.append(str(i).encode())
    length = await client.xlen(prefix + "semantic:log")
    assert 10 <= length < 500  # MAXLEN ~ trims whole nodes: near the bound, never unbounded
    records, cursor = await log.read("0", 1000)
    assert records[-1] == b"499" and len(records) == length
    assert await log.read(cursor, 10) == ([], cursor)


def test_redis_backend_needs_its_clients() -> None:
    with pytest.raises(ValueError):
        build_caches(CacheSettings(enabled=True, backend="redis"))
