"""Shared state: token buckets, key-value, locks, pub/sub and breaker state, in memory or in Redis.

Build one backend at startup and pass its parts to whoever needs them::

    backend = build_backend(settings.state, password=resolver.resolve(settings.state.redis.password))
    limiter = backend.limiter        # RateLimiter, for pipeline/rate_limit.py
    breaker = CircuitBreaker(backend.breakers, policy)   # routing/breaker.py
    ...
    await backend.close()            # on shutdown

``memory`` keeps everything in this process (one gateway); ``redis`` shares it between processes,
each decision one Lua script (one round trip). ``alfred.state.db`` (SQL) is a separate concern.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from alfred.state.base import (
    BreakerPolicy,
    BreakerState,
    BreakerStatus,
    BreakerStore,
    BreakerVerdict,
    Charge,
    Clock,
    Decision,
    KeyValueStore,
    Limit,
    Locks,
    PubSub,
    RateLimiter,
    Transition,
)
from alfred.state.memory import (
    MemoryBreakerStore,
    MemoryKeyValueStore,
    MemoryLocks,
    MemoryPubSub,
    MemoryRateLimiter,
)
from alfred.state.settings import RedisSettings, StateSettings


async def _nothing() -> None:
    return None


@dataclass(frozen=True, slots=True)
class StateBackend:
    """One backend's parts, built together so they share a client (and a key prefix in Redis)."""

    kind: str
    limiter: RateLimiter
    kv: KeyValueStore
    locks: Locks
    pubsub: PubSub
    breakers: BreakerStore
    close: Callable[[], Awaitable[None]] = _nothing


def memory_backend(clock: Clock = time.monotonic) -> StateBackend:
    """Everything in this process; ``clock`` drives buckets, expiries, leases and breaker windows."""
    return StateBackend(
        kind="memory",
        limiter=MemoryRateLimiter(clock),
        kv=MemoryKeyValueStore(clock),
        locks=MemoryLocks(clock),
        pubsub=MemoryPubSub(),
        breakers=MemoryBreakerStore(clock),
    )


def build_backend(
    settings: StateSettings, password: str | None = None, clock: Clock | None = None
) -> StateBackend:
    """The backend the settings name; ``password`` is the Redis password, already resolved.

    ``clock`` overrides the time source (tests); by default memory uses ``time.monotonic`` and Redis
    uses the server's clock (or this host's wall clock when ``server_clock`` is off).
    """
    if settings.backend == "memory":
        return memory_backend(clock or time.monotonic)
    # Imported here because redis is an optional extra: the memory backend must work without it.
    from alfred.state.redis import (
        RedisBreakerStore,
        RedisKeyValueStore,
        RedisLocks,
        RedisPubSub,
        RedisRateLimiter,
        connect,
    )

    redis = settings.redis
    client = connect(redis, password)
    script_clock = clock if clock is not None else (None if redis.server_clock else time.time)
    prefix = redis.key_prefix

    async def close() -> None:
        await client.aclose()

    return StateBackend(
        kind="redis",
        limiter=RedisRateLimiter(client, prefix, script_clock),
        kv=RedisKeyValueStore(client, prefix),
        locks=RedisLocks(client, prefix),
        pubsub=RedisPubSub(client, prefix),
        breakers=RedisBreakerStore(client, prefix, script_clock),
        close=close,
    )


__all__ = [
    "BreakerPolicy",
    "BreakerState",
    "BreakerStatus",
    "BreakerStore",
    "BreakerVerdict",
    "Charge",
    "Clock",
    "Decision",
    "KeyValueStore",
    "Limit",
    "Locks",
    "PubSub",
    "RateLimiter",
    "RedisSettings",
    "StateBackend",
    "StateSettings",
    "Transition",
    "build_backend",
    "memory_backend",
]
