"""The shared-state protocols: a token-bucket limiter, a key-value store, locks, pub/sub, breaker state.

Each protocol has an in-process implementation (``memory.py``) and a Redis one (``redis.py``); the
app picks one backend from settings, and nothing else knows which. Every operation that decides
something (admit a request, claim a half-open probe) is atomic in both backends, so N gateway
processes sharing Redis behave like one.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

Clock = Callable[[], float]
"""Seconds as a float; injected everywhere so tests can drive time by hand."""


# --- token buckets --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Limit:
    """A bucket of ``capacity`` units that refills from empty to full in ``period_s`` (so 60/60 s = 60 rpm)."""

    capacity: int
    period_s: float

    def __post_init__(self) -> None:
        if self.capacity <= 0 or self.period_s <= 0:
            raise ValueError("a limit needs a positive capacity and period")

    @property
    def rate(self) -> float:
        """Units refilled per second."""
        return self.capacity / self.period_s


@dataclass(frozen=True, slots=True)
class Charge:
    """Take ``cost`` units from the bucket ``key`` (limited by ``limit``); a negative cost refunds."""

    key: str
    limit: Limit
    cost: float


@dataclass(frozen=True, slots=True)
class Decision:
    """One bucket's answer: whether the charge fits, and what the OpenAI-style headers should say.

    ``remaining`` counts whole units left after the charge (or now, when refused); ``reset_s`` is the
    time until the bucket is full again; ``retry_after_s`` is how long until this charge would fit
    (0 when it fits; ``inf`` when it never can, because it is larger than the bucket).
    """

    allowed: bool
    limit: int
    remaining: int
    reset_s: float
    retry_after_s: float


class RateLimiter(Protocol):
    """Token buckets. ``acquire`` is all-or-nothing across its charges and one round trip in Redis."""

    async def acquire(self, charges: Sequence[Charge]) -> list[Decision]:
        """Take every charge, or (when any does not fit) none; one ``Decision`` per charge, in order."""
        ...

    async def adjust(self, charges: Sequence[Charge]) -> None:
        """Apply corrections unconditionally: positive costs may drive a bucket into debt, negative refund."""
        ...


# --- key-value, locks, pub/sub -------------------------------------------------------------------


class KeyValueStore(Protocol):
    """Bytes by key with optional expiry, plus an atomic counter."""

    async def get(self, key: str) -> bytes | None: ...

    async def set(
        self, key: str, value: bytes, ttl_s: float | None = None, *, only_new: bool = False
    ) -> bool:
        """Store ``value``; with ``only_new`` only when the key is absent. True when written."""
        ...

    async def delete(self, key: str) -> bool: ...

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        """Add ``amount`` and return the new value; ``ttl_s`` is set when the counter is created."""
        ...


class Locks(Protocol):
    """Named mutual exclusion with a lease, so a crashed holder never blocks the others for ever."""

    def hold(self, name: str, ttl_s: float, wait_s: float = 0.0) -> AbstractAsyncContextManager[bool]:
        """``async with locks.hold(name, ttl_s, wait_s) as held:``; ``held`` is False when it timed out."""
        ...


class PubSub(Protocol):
    """Fire-and-forget broadcast: every current subscriber of a channel gets each message."""

    async def publish(self, channel: str, message: bytes) -> int:
        """Send to the channel's subscribers; returns how many received it (in this backend's view)."""
        ...

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """``async with pubsub.subscribe(ch) as messages: async for m in messages: ...``"""
        ...


# --- circuit-breaker state -----------------------------------------------------------------------


class BreakerState(enum.StrEnum):
    """Where a breaker is in its state machine."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a breaker opens and how it recovers; passed with each call so stores hold no config.

    Failures are counted in a sliding window of ``window_s`` split into ``buckets`` slots. The breaker
    opens when ``failure_threshold`` failures are in the window, or when at least ``min_requests``
    results are and the failure share reaches ``error_rate_threshold`` (either may be None). After
    ``cooldown_s`` one probe is let through; a probe that never reports frees its claim after
    ``probe_timeout_s`` so the deployment is probed again instead of stranded.
    """

    failure_threshold: int | None = 5
    error_rate_threshold: float | None = None
    min_requests: int = 10
    window_s: float = 60.0
    buckets: int = 12
    cooldown_s: float = 30.0
    probe_timeout_s: float = 30.0
    history: int = 50

    def __post_init__(self) -> None:
        if self.failure_threshold is None and self.error_rate_threshold is None:
            raise ValueError("a breaker needs a failure_threshold or an error_rate_threshold")
        if self.window_s <= 0 or self.buckets < 1 or self.cooldown_s < 0 or self.probe_timeout_s <= 0:
            raise ValueError("breaker window, buckets, cooldown and probe timeout must be positive")

    @property
    def slot_s(self) -> float:
        return self.window_s / self.buckets

    def should_open(self, failures: int, total: int) -> bool:
        if self.failure_threshold is not None and failures >= self.failure_threshold:
            return True
        return (
            self.error_rate_threshold is not None
            and total >= self.min_requests
            and total > 0
            and failures / total >= self.error_rate_threshold
        )


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change of one breaker, for metrics and the admin API."""

    key: str
    at: float
    source: BreakerState
    target: BreakerState
    reason: str


@dataclass(frozen=True, slots=True)
class BreakerVerdict:
    """The answer to "may a request go to this deployment now?"."""

    allowed: bool
    probe: bool = False
    transition: Transition | None = None


@dataclass(frozen=True, slots=True)
class BreakerStatus:
    """A breaker as the admin API shows it; ``state`` is effective (open past cooldown reads half-open)."""

    state: BreakerState
    forced: bool
    failures: int
    successes: int
    opened_at: float | None
    probe_in_flight: bool


class BreakerStore(Protocol):
    """The breaker's state machine, applied atomically (a Lua script in Redis) per deployment key."""

    async def allow(self, key: str, policy: BreakerPolicy) -> BreakerVerdict: ...

    async def record(
        self, key: str, success: bool, probe: bool, policy: BreakerPolicy
    ) -> Transition | None: ...

    async def force(self, key: str, state: BreakerState | None, policy: BreakerPolicy) -> Transition | None:
        """Pin the breaker open or closed (it then ignores results), or None to resume, closed and reset."""
        ...

    async def status(self, key: str, policy: BreakerPolicy) -> BreakerStatus: ...

    async def transitions(self, key: str, limit: int = 50) -> list[Transition]:
        """The latest transitions, newest first."""
        ...
