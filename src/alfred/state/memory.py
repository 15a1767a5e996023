"""In-process state: the embedded default for one gateway process (no services to run).

Every class keeps its state on the instance (never at module level) and reads time from an injected
clock. Nothing here awaits between reading and writing a value, so each operation is atomic on the
event loop, as the Lua scripts make the Redis twins atomic on the server.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

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

_EPSILON = 1e-9  # float slack so a bucket refilled to 0.9999999999 still admits a cost of 1


class MemoryRateLimiter:
    """Token buckets in a dict; idle full buckets are swept every ``sweep_interval_s`` to bound memory."""

    def __init__(self, clock: Clock = time.monotonic, sweep_interval_s: float = 60.0) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float, float, float]] = {}  # key → tokens, ts, capacity, rate
        self._sweep_interval_s = sweep_interval_s
        self._next_sweep = clock() + sweep_interval_s

    def _level(self, key: str, capacity: float, rate: float, now: float) -> float:
        state = self._buckets.get(key)
        if state is None:
            return capacity
        tokens, ts = state[0], state[1]
        return min(capacity, tokens + max(0.0, now - ts) * rate)

    async def acquire(self, charges: Sequence[Charge]) -> list[Decision]:
        now = self._clock()
        self._maybe_sweep(now)
        levels: list[float] = []
        seen: dict[str, float] = {}
        fits = True
        for charge in charges:
            capacity, rate = float(charge.limit.capacity), charge.limit.rate
            level = seen.get(charge.key)
            if level is None:
                level = self._level(charge.key, capacity, rate, now)
            levels.append(level)
            if charge.cost > level + _EPSILON:
                fits = False
                seen[charge.key] = level
            else:
                seen[charge.key] = level - charge.cost
        decisions = []
        for charge, level in zip(charges, levels, strict=True):
            capacity, rate = float(charge.limit.capacity), charge.limit.rate
            retry = 0.0
            if fits:
                level -= charge.cost
                self._buckets[charge.key] = (level, now, capacity, rate)
            elif charge.cost > capacity:
                retry = math.inf
            elif charge.cost > level + _EPSILON:
                retry = (charge.cost - level) / rate
            decisions.append(
                Decision(
                    fits,
                    charge.limit.capacity,
                    math.floor(max(0.0, level) + _EPSILON),
                    (capacity - level) / rate,
                    retry,
                )
            )
        return decisions

    async def adjust(self, charges: Sequence[Charge]) -> None:
        now = self._clock()
        for charge in charges:
            capacity, rate = float(charge.limit.capacity), charge.limit.rate
            level = min(capacity, self._level(charge.key, capacity, rate, now) - charge.cost)
            self._buckets[charge.key] = (level, now, capacity, rate)

    def _maybe_sweep(self, now: float) -> None:
        if now < self._next_sweep:
            return
        self._next_sweep = now + self._sweep_interval_s
        full = [k for k, (t, ts, cap, rate) in self._buckets.items() if t + max(0.0, now - ts) * rate >= cap]
        for key in full:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)


class MemoryKeyValueStore:
    """A dict with lazy expiry and a periodic sweep of expired keys."""

    def __init__(self, clock: Clock = time.monotonic, sweep_interval_s: float = 60.0) -> None:
        self._clock = clock
        self._data: dict[str, tuple[bytes, float | None]] = {}
        self._sweep_interval_s = sweep_interval_s
        self._next_sweep = clock() + sweep_interval_s

    def _live(self, key: str, now: float) -> tuple[bytes, float | None] | None:
        entry = self._data.get(key)
        if entry is not None and entry[1] is not None and entry[1] <= now:
            del self._data[key]
            return None
        return entry

    def _sweep(self, now: float) -> None:
        if now >= self._next_sweep:
            self._next_sweep = now + self._sweep_interval_s
            for key in [k for k, (_, exp) in self._data.items() if exp is not None and exp <= now]:
                del self._data[key]

    async def get(self, key: str) -> bytes | None:
        entry = self._live(key, self._clock())
        return entry[0] if entry else None

    async def set(
        self, key: str, value: bytes, ttl_s: float | None = None, *, only_new: bool = False
    ) -> bool:
        now = self._clock()
        self._sweep(now)
        if only_new and self._live(key, now) is not None:
            return False
        self._data[key] = (value, None if ttl_s is None else now + ttl_s)
        return True

    async def delete(self, key: str) -> bool:
        return self._live(key, self._clock()) is not None and self._data.pop(key, None) is not None

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        now = self._clock()
        self._sweep(now)
        entry = self._live(key, now)
        if entry is None:
            value, expires = amount, (None if ttl_s is None else now + ttl_s)
        else:
            value, expires = int(entry[0]) + amount, entry[1]
        self._data[key] = (str(value).encode(), expires)
        return value


class MemoryLocks:
    """Leased locks in a dict; waiters wake when a holder releases, or re-check when a lease lapses."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._held: dict[str, tuple[str, float]] = {}  # name → token, lease end
        self._released = asyncio.Condition()

    def _try(self, name: str, token: str, ttl_s: float) -> bool:
        now = self._clock()
        current = self._held.get(name)
        if current is not None and current[1] > now:
            return False
        self._held[name] = (token, now + ttl_s)
        return True

    @asynccontextmanager
    async def hold(self, name: str, ttl_s: float, wait_s: float = 0.0) -> AsyncIterator[bool]:
        token = secrets.token_hex(8)
        deadline = time.monotonic() + wait_s
        held = self._try(name, token, ttl_s)
        async with self._released:
            while not held and (left := deadline - time.monotonic()) > 0:
                lease = self._held.get(name)
                lapse = max(0.0, lease[1] - self._clock()) if lease else 0.0
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._released.wait(), timeout=min(left, lapse or left))
                held = self._try(name, token, ttl_s)
        try:
            yield held
        finally:
            if held and self._held.get(name, ("", 0.0))[0] == token:
                del self._held[name]
                async with self._released:
                    self._released.notify_all()


class MemoryPubSub:
    """Per-subscriber bounded queues; a subscriber that falls 1,000 messages behind loses the oldest."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._channels: dict[str, set[asyncio.Queue[bytes]]] = {}
        self._queue_size = queue_size

    async def publish(self, channel: str, message: bytes) -> int:
        queues = self._channels.get(channel, set())
        for queue in queues:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(message)
        return len(queues)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[bytes]]:
        queue: asyncio.Queue[bytes] = asyncio.Queue(self._queue_size)
        self._channels.setdefault(channel, set()).add(queue)

        async def messages() -> AsyncIterator[bytes]:
            while True:
                yield await queue.get()

        try:
            yield messages()
        finally:
            subscribers = self._channels.get(channel)
            if subscribers is not None:
                subscribers.discard(queue)
                if not subscribers:
                    del self._channels[channel]


@dataclass(slots=True)
class _Breaker:
    state: BreakerState = BreakerState.CLOSED
    forced: bool = False
    opened_at: float = 0.0
    probe_until: float = 0.0
    ring: dict[int, list[int]] = field(default_factory=dict)  # ring slot → [slot index, successes, failures]
    log: deque[Transition] = field(default_factory=deque)


class MemoryBreakerStore:
    """The breaker state machine in-process; mirrors ``lua/breaker.lua`` step for step."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._breakers: dict[str, _Breaker] = {}

    def _get(self, key: str) -> _Breaker:
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = self._breakers[key] = _Breaker()
        return breaker

    @staticmethod
    def _window(b: _Breaker, slot: int, policy: BreakerPolicy) -> tuple[int, int]:
        live = [v for v in b.ring.values() if v[0] > slot - policy.buckets]
        return sum(v[1] for v in live), sum(v[2] for v in live)

    @staticmethod
    def _move(
        key: str, b: _Breaker, target: BreakerState, reason: str, now: float, policy: BreakerPolicy
    ) -> Transition:
        transition = Transition(key, now, b.state, target, reason)
        b.state = target
        b.log.appendleft(transition)
        while len(b.log) > policy.history:
            b.log.pop()
        return transition

    async def allow(self, key: str, policy: BreakerPolicy) -> BreakerVerdict:
        now = self._clock()
        b = self._get(key)
        if b.state is BreakerState.CLOSED:
            return BreakerVerdict(True)
        if b.state is BreakerState.OPEN:
            if b.forced or now < b.opened_at + policy.cooldown_s:
                return BreakerVerdict(False)
            b.probe_until = now + policy.probe_timeout_s
            move = self._move(key, b, BreakerState.HALF_OPEN, "cooldown elapsed", now, policy)
            return BreakerVerdict(True, probe=True, transition=move)
        if now >= b.probe_until:
            b.probe_until = now + policy.probe_timeout_s  # the last probe never reported
            return BreakerVerdict(True, probe=True)
        return BreakerVerdict(False)

    async def record(self, key: str, success: bool, probe: bool, policy: BreakerPolicy) -> Transition | None:
        now = self._clock()
        b = self._get(key)
        slot = math.floor(now / policy.slot_s)
        if b.state is BreakerState.CLOSED:
            cell = b.ring.get(slot % policy.buckets)
            if cell is None or cell[0] != slot:
                cell = b.ring[slot % policy.buckets] = [slot, 0, 0]
            cell[1 if success else 2] += 1
            if b.forced or success:
                return None
            successes, failures = self._window(b, slot, policy)
            total = successes + failures
            if policy.failure_threshold is not None and failures >= policy.failure_threshold:
                reason = f"{failures} failures in window"
            elif policy.should_open(failures, total):
                reason = f"{failures} of {total} failed in window"
            else:
                return None
            b.opened_at, b.probe_until = now, 0.0
            return self._move(key, b, BreakerState.OPEN, reason, now, policy)
        if b.state is BreakerState.HALF_OPEN and probe:
            b.probe_until = 0.0
            if success:
                b.ring.clear()
                return self._move(key, b, BreakerState.CLOSED, "probe succeeded", now, policy)
            b.opened_at = now
            return self._move(key, b, BreakerState.OPEN, "probe failed", now, policy)
        return None

    async def force(self, key: str, state: BreakerState | None, policy: BreakerPolicy) -> Transition | None:
        now = self._clock()
        b = self._get(key)
        b.ring.clear()
        b.probe_until = 0.0
        if state is BreakerState.OPEN:
            b.forced, b.opened_at = True, now
            return self._move(key, b, BreakerState.OPEN, "forced open", now, policy)
        if state is BreakerState.HALF_OPEN:
            raise ValueError("a breaker can be forced open or closed, not half-open")
        b.forced, b.opened_at = state is BreakerState.CLOSED, 0.0
        reason = "forced closed" if b.forced else "released"
        return self._move(key, b, BreakerState.CLOSED, reason, now, policy)

    async def status(self, key: str, policy: BreakerPolicy) -> BreakerStatus:
        now = self._clock()
        b = self._breakers.get(key) or _Breaker()
        successes, failures = self._window(b, math.floor(now / policy.slot_s), policy)
        state = b.state
        if state is BreakerState.OPEN and not b.forced and now >= b.opened_at + policy.cooldown_s:
            state = BreakerState.HALF_OPEN
        return BreakerStatus(
            state=state,
            forced=b.forced,
            failures=failures,
            successes=successes,
            opened_at=None if b.state is BreakerState.CLOSED else b.opened_at,
            probe_in_flight=b.state is BreakerState.HALF_OPEN and now < b.probe_until,
        )

    async def transitions(self, key: str, limit: int = 50) -> list[Transition]:
        b = self._breakers.get(key)
        return list(b.log)[:limit] if b else []
