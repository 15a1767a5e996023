"""Builds the caches from settings: what the composition root calls once at startup."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from alfred.cache.counters import CacheCounters
from alfred.cache.exact import ExactCache, LruStore
from alfred.cache.generations import Generations
from alfred.cache.settings import CacheSettings
from alfred.state.base import Clock, KeyValueStore
from alfred.state.memory import MemoryKeyValueStore

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from alfred.cache.embedder import Embedder, EmbedFunction
    from alfred.cache.semantic import SemanticCache


async def _nothing() -> None:
    return None


@dataclass
class Caches:
    """The exact cache, the semantic cache when enabled, and their startup/shutdown hooks.

    ``generations`` holds each group's flush generation (shared through the state backend);
    ``counters`` the lookup outcomes per group that the cache stage records in this process.
    """

    exact: ExactCache
    semantic: SemanticCache | None
    settings: CacheSettings = field(default_factory=CacheSettings)
    generations: Generations = field(default_factory=lambda: Generations(MemoryKeyValueStore()))
    counters: CacheCounters = field(default_factory=CacheCounters)
    start: Callable[[], Awaitable[None]] = _nothing
    close: Callable[[], Awaitable[None]] = _nothing
    embedder: Embedder | None = field(default=None, repr=False)


def build_caches(
    settings: CacheSettings,
    *,
    kv: KeyValueStore | None = None,
    state_kv: KeyValueStore | None = None,
    redis: Redis | None = None,
    redis_prefix: str = "alfred:",
    embed: EmbedFunction | None = None,
    embedder: Embedder | None = None,
    clock: Clock = time.time,
) -> Caches:
    """Wire the caches.

    ``kv`` is L2 (the state backend's Redis ``KeyValueStore``) and ``redis`` the client the semantic
    log uses; both are required with ``backend: redis`` and ignored with ``memory``. ``state_kv`` is
    the state backend's store, where the per-group flush generations live (whatever the cache backend:
    with Redis state, a flush reaches every process); None keeps them in this process. ``embed`` calls
    the configured embeddings model when ``semantic.embedder`` is ``provider``; ``embedder``
    overrides the choice entirely (tests).
    """
    shared = settings.backend == "redis"
    if shared and (kv is None or redis is None):
        raise ValueError("cache backend 'redis' needs the state backend's key-value store and Redis client")
    l1 = LruStore(settings.l1_max_entries, settings.l1_max_bytes, clock)
    exact = ExactCache(
        l1,
        kv if shared else None,
        stale_ttl_s=settings.stale_ttl_s,
        max_entry_bytes=settings.max_entry_bytes,
        clock=clock,
    )
    generations = Generations(state_kv if state_kv is not None else MemoryKeyValueStore())
    counters = CacheCounters()
    semantic_on = settings.semantic.enabled or any(g.semantic for g in settings.groups.values())
    if not semantic_on:
        return Caches(exact, None, settings, generations, counters)
    # The semantic parts need numpy (the `semantic` extra): imported only when a config turns them on.
    from alfred.cache.embedder import MiniLMEmbedder, ProviderEmbedder
    from alfred.cache.guard import QuestionGuard
    from alfred.cache.index import VectorIndex
    from alfred.cache.semantic import SemanticCache

    sem = settings.semantic
    if embedder is None:
        if sem.embedder == "provider":
            if embed is None:
                raise ValueError("semantic.embedder 'provider' needs an embed function")
            assert sem.embedding_model is not None and sem.embedding_dimensions is not None
            embedder = ProviderEmbedder(
                embed, model_id=sem.embedding_model, dimensions=sem.embedding_dimensions
            )
        else:
            embedder = MiniLMEmbedder(intra_op_threads=sem.intra_op_threads)
    log_store = None
    if shared:
        from alfred.cache.redis_log import RedisSemanticLog

        assert redis is not None
        log_store = RedisSemanticLog(redis, redis_prefix + settings.key_prefix, sem.max_entries)
    semantic = SemanticCache(
        embedder,
        exact,
        index=VectorIndex(embedder.dimensions, sem.max_entries),
        guard=QuestionGuard(enabled=sem.guard),
        log_store=log_store,
        sync_interval_s=sem.sync_interval_s,
        candidates=sem.candidates,
        clock=clock,
    )

    async def close() -> None:
        if isinstance(embedder, MiniLMEmbedder):
            embedder.close()

    return Caches(
        exact,
        semantic,
        settings,
        generations,
        counters,
        start=semantic.start,
        close=close,
        embedder=embedder,
    )
