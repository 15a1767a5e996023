"""Redis state for many gateway processes: every decision is one Lua script, one round trip.

Scripts live in ``lua/`` and are registered once per client (EVALSHA; redis-py reloads one that the
server lost). With ``clock=None`` the scripts read the server's own clock (TIME), so every process
shares one notion of "now" and clock skew between hosts never loosens a limit. Tests inject a clock.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.sentinel import Sentinel
from redis.commands.core import AsyncScript

from alfred.state.base import (
    BreakerPolicy,
    BreakerState,
    BreakerStatus,
    BreakerVerdict,
    Charge,
    Clock,
    Decision,
    Transition,
)
from alfred.state.settings import RedisSettings


def _script(client: Redis, name: str) -> AsyncScript:
    return client.register_script(resources.files("alfred.state").joinpath("lua", name).read_text("utf-8"))


def _now_arg(clock: Clock | None) -> str:
    return "" if clock is None else repr(clock())


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def connect(settings: RedisSettings, password: str | None = None) -> Redis:
    """A pooled asyncio client from settings (``password`` already resolved from its secret reference).

    The pool blocks (up to ``socket_timeout_s``) when all ``max_connections`` are busy, instead of
    failing the request as redis-py's default pool does under a burst.
    """
    options: dict[str, Any] = {
        "socket_timeout": settings.socket_timeout_s,
        "socket_connect_timeout": settings.connect_timeout_s,
    }
    if settings.sentinels:
        addresses = [(h, int(p)) for h, _, p in (a.rpartition(":") for a in settings.sentinels)]
        sentinel = Sentinel(addresses, password=password, **options)  # type: ignore[no-untyped-call, unused-ignore]  # typed from redis 8.2
        master: Redis = sentinel.master_for(
            settings.sentinel_master, db=settings.db, max_connections=settings.max_connections
        )
        return master
    pool = BlockingConnectionPool.from_url(
        settings.url,
        password=password,
        max_connections=settings.max_connections,
        timeout=settings.socket_timeout_s,
        **options,
    )
    return Redis.from_pool(pool)


class RedisRateLimiter:
    """Token buckets as Redis hashes; ``acquire`` and ``adjust`` are one EVALSHA each, exact across processes."""

    def __init__(self, client: Redis, prefix: str = "alfred:", clock: Clock | None = None) -> None:
        self._prefix = prefix + "rl:"
        self._clock = clock
        self._acquire = _script(client, "bucket_acquire.lua")
        self._adjust = _script(client, "bucket_adjust.lua")

    def _args(self, charges: Sequence[Charge]) -> tuple[list[str], list[str]]:
        keys = [self._prefix + c.key for c in charges]
        args = [_now_arg(self._clock)]
        for c in charges:
            args += [str(c.limit.capacity), repr(float(c.limit.period_s)), repr(float(c.cost))]
        return keys, args

    async def acquire(self, charges: Sequence[Charge]) -> list[Decision]:
        if not charges:
            return []
        keys, args = self._args(charges)
        reply = await self._acquire(keys=keys, args=args)
        allowed = bool(int(reply[0]))
        decisions = []
        for i, charge in enumerate(charges):
            remaining, reset_ms, retry_ms = (int(x) for x in reply[1 + 3 * i : 4 + 3 * i])
            retry = math.inf if retry_ms < 0 else retry_ms / 1000
            decisions.append(Decision(allowed, charge.limit.capacity, remaining, reset_ms / 1000, retry))
        return decisions

    async def adjust(self, charges: Sequence[Charge]) -> None:
        if charges:
            keys, args = self._args(charges)
            await self._adjust(keys=keys, args=args)


class RedisBreakerStore:
    """The breaker state machine in ``lua/breaker.lua``: one hash and one capped log list per breaker."""

    def __init__(self, client: Redis, prefix: str = "alfred:", clock: Clock | None = None) -> None:
        self._client = client
        self._prefix = prefix + "cb:"
        self._clock = clock
        self._script = _script(client, "breaker.lua")

    async def _run(self, key: str, op: str, policy: BreakerPolicy, *extra: str) -> list[Any]:
        p = policy
        args = [
            op,
            _now_arg(self._clock),
            repr(p.slot_s),
            str(p.buckets),
            "" if p.failure_threshold is None else str(p.failure_threshold),
            "" if p.error_rate_threshold is None else repr(p.error_rate_threshold),
            str(p.min_requests),
            repr(float(p.cooldown_s)),
            repr(float(p.probe_timeout_s)),
            str(p.history),
            *extra,
        ]
        reply: list[Any] = await self._script(
            keys=[self._prefix + key, self._prefix + key + ":log"], args=args
        )
        return reply

    @staticmethod
    def _transition(key: str, reply: list[Any]) -> Transition | None:
        if len(reply) < 6:
            return None
        source, target, reason, at = (_text(x) for x in reply[2:6])
        return Transition(key, float(at), BreakerState(source), BreakerState(target), reason)

    async def allow(self, key: str, policy: BreakerPolicy) -> BreakerVerdict:
        reply = await self._run(key, "allow", policy)
        return BreakerVerdict(bool(int(reply[0])), bool(int(reply[1])), self._transition(key, reply))

    async def record(self, key: str, success: bool, probe: bool, policy: BreakerPolicy) -> Transition | None:
        reply = await self._run(key, "record", policy, "1" if success else "0", "1" if probe else "0")
        return self._transition(key, reply)

    async def force(self, key: str, state: BreakerState | None, policy: BreakerPolicy) -> Transition | None:
        if state is BreakerState.HALF_OPEN:
            raise ValueError("a breaker can be forced open or closed, not half-open")
        reply = await self._run(key, "force", policy, "none" if state is None else state.value)
        return self._transition(key, reply)

    async def status(self, key: str, policy: BreakerPolicy) -> BreakerStatus:
        state, forced, failures, successes, opened, probing = await self._run(key, "status", policy)
        opened_text = _text(opened)
        return BreakerStatus(
            state=BreakerState(_text(state)),
            forced=bool(int(forced)),
            failures=int(failures),
            successes=int(successes),
            opened_at=float(opened_text) if opened_text else None,
            probe_in_flight=bool(int(probing)),
        )

    async def transitions(self, key: str, limit: int = 50) -> list[Transition]:
        rows = await self._client.lrange(self._prefix + key + ":log", 0, limit - 1)
        out = []
        for row in rows:
            at, source, target, reason = _text(row).split("|", 3)
            out.append(Transition(key, float(at), BreakerState(source), BreakerState(target), reason))
        return out


class RedisKeyValueStore:
    """Plain Redis strings under the prefix; ``incr`` sets the expiry only on the counter's creation."""

    def __init__(self, client: Redis, prefix: str = "alfred:") -> None:
        self._client = client
        self._prefix = prefix + "kv:"

    async def get(self, key: str) -> bytes | None:
        value = await self._client.get(self._prefix + key)
        return value.encode() if isinstance(value, str) else value

    async def set(
        self, key: str, value: bytes, ttl_s: float | None = None, *, only_new: bool = False
    ) -> bool:
        px = None if ttl_s is None else max(1, math.ceil(ttl_s * 1000))
        return bool(await self._client.set(self._prefix + key, value, px=px, nx=only_new))

    async def delete(self, key: str) -> bool:
        return bool(await self._client.delete(self._prefix + key))

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        name = self._prefix + key
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.incrby(name, amount)
            if ttl_s is not None:
                pipe.pexpire(name, max(1, math.ceil(ttl_s * 1000)), nx=True)
            results = await pipe.execute()
        return int(results[0])


class RedisLocks:
    """SET NX PX leases with a random token; release is compare-and-delete in Lua.

    Waiting polls with a capped backoff: Redis has no "key deleted" notification worth a connection
    per waiter, and lock waits are rare (admin jobs, migrations), never on the request path.
    """

    def __init__(self, client: Redis, prefix: str = "alfred:") -> None:
        self._client = client
        self._prefix = prefix + "lock:"
        self._release = _script(client, "lock_release.lua")

    @asynccontextmanager
    async def hold(self, name: str, ttl_s: float, wait_s: float = 0.0) -> AsyncIterator[bool]:
        key, token = self._prefix + name, secrets.token_hex(16)
        px = max(1, math.ceil(ttl_s * 1000))
        deadline = time.monotonic() + wait_s
        pause = 0.005
        held = bool(await self._client.set(key, token, px=px, nx=True))
        while not held and time.monotonic() < deadline:
            await asyncio.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 0.1)
            held = bool(await self._client.set(key, token, px=px, nx=True))
        try:
            yield held
        finally:
            if held:
                await self._release(keys=[key], args=[token])


class RedisPubSub:
    """Redis PUBLISH/SUBSCRIBE; each subscription holds its own connection while it is open."""

    def __init__(self, client: Redis, prefix: str = "alfred:") -> None:
        self._client = client
        self._prefix = prefix + "ps:"

    async def publish(self, channel: str, message: bytes) -> int:
        return int(await self._client.publish(self._prefix + channel, message))

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[bytes]]:
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self._prefix + channel)

        async def messages() -> AsyncIterator[bytes]:
            async for item in pubsub.listen():
                if item.get("type") == "message":
                    yield bytes(item["data"])

        try:
            yield messages()
        finally:
            await pubsub.unsubscribe()
            await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]  # typed from redis 8.2
