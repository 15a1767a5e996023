"""Flushing a model group over real Redis: one process flushes, another stops hitting within the TTL."""

from __future__ import annotations

import time
from collections.abc import Callable

from redis.asyncio import Redis

from alfred.cache.build import Caches, build_caches
from alfred.cache.groups import flush, summarize
from alfred.cache.settings import CacheSettings
from alfred.pipeline import Pipeline
from alfred.pipeline.cache import CacheStage
from alfred.pipeline.metering import MeteredHandler
from alfred.state.redis import RedisKeyValueStore
from tests.unit.cache.support import Upstream, chat, finish, make_call

SETTINGS = CacheSettings(enabled=True, backend="redis")
DEADLINE_S = 10.0  # generous: the machine is shared; the generation cache itself holds 0.5 s


class Process:
    """A gateway process: its own Redis client, L1, generation cache and stage."""

    def __init__(self, client: Redis, prefix: str) -> None:
        kv = RedisKeyValueStore(client, prefix)
        self.caches: Caches = build_caches(SETTINGS, kv=kv, state_kv=kv, redis=client, redis_prefix=prefix)
        self.upstream = Upstream()
        stage = CacheStage(
            SETTINGS,
            self.caches.exact,
            generations=self.caches.generations,
            counters=self.caches.counters,
        )
        self.pipeline = Pipeline([stage], MeteredHandler(self.upstream))

    async def ask(self, text: str, model: str = "gpt-test") -> str | None:
        call = make_call(chat(text, model=model))
        await self.pipeline.run(call)
        await finish(call)
        return call.cache_status


async def test_a_flush_in_one_process_is_seen_by_another(prefix: str, clients: Callable[[], Redis]) -> None:
    one, two = Process(clients(), prefix), Process(clients(), prefix)
    assert await one.ask("What is a monad?") == "miss"
    assert await one.ask("What is a functor?", model="other") == "miss"
    assert await two.ask("What is a monad?") == "hit"  # L2 is shared; now in two's L1 as well
    assert await two.ask("What is a functor?", model="other") == "hit"

    flushed = await flush(one.caches, "gpt-test")
    assert flushed.generation == 1
    assert await clients().get(prefix + "kv:cache:gen:gpt-test") == b"1"

    started = time.monotonic()
    while await two.ask("What is a monad?") == "hit":
        assert time.monotonic() - started < DEADLINE_S, "process two never saw the flush"
    assert two.upstream.calls == 1  # the first miss after the flush went upstream
    assert await two.ask("What is a functor?", model="other") == "hit"  # other groups survive
    assert await one.ask("What is a monad?") == "hit"  # what two stored under generation 1
    (summary,) = await summarize(two.caches, ["gpt-test"])
    assert (summary.generation, summary.exact_entries) == (1, 1)


async def test_a_new_process_starts_at_the_flushed_generation(
    prefix: str, clients: Callable[[], Redis]
) -> None:
    one = Process(clients(), prefix)
    await one.ask("What is a monad?")
    await flush(one.caches, "gpt-test")
    await flush(one.caches, "gpt-test")
    late = Process(clients(), prefix)
    assert await late.ask("What is a monad?") == "miss"  # the entry from generation 0 is unreachable
    assert await late.caches.generations.current("gpt-test") == 2
