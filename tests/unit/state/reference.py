"""Deliberately naive reference models that the real state machines are checked against.

They share no code with ``alfred.state``: exact rational arithmetic for token buckets, and a plain
event list (not a ring of slots) for the breaker's window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

from alfred.state.base import BreakerPolicy, BreakerState


@dataclass
class ReferenceBucket:
    """One token bucket in exact arithmetic: starts full, refills continuously, never above capacity."""

    capacity: int
    period_ms: int
    level: Fraction | None = None
    at_ms: int = 0

    def _refill(self, now_ms: int) -> Fraction:
        if self.level is None:
            return Fraction(self.capacity)
        gained = Fraction(max(0, now_ms - self.at_ms) * self.capacity, self.period_ms)
        return min(Fraction(self.capacity), self.level + gained)

    def peek(self, now_ms: int) -> Fraction:
        return self._refill(now_ms)

    def take(self, now_ms: int, cost: int) -> None:
        self.level, self.at_ms = self._refill(now_ms) - cost, now_ms

    def correct(self, now_ms: int, delta: int) -> None:
        self.level, self.at_ms = min(Fraction(self.capacity), self._refill(now_ms) - delta), now_ms


class ReferenceLimiter:
    """All-or-nothing acquisition over several reference buckets."""

    def __init__(self) -> None:
        self.buckets: dict[str, ReferenceBucket] = {}

    def bucket(self, key: str, capacity: int, period_ms: int) -> ReferenceBucket:
        return self.buckets.setdefault(key, ReferenceBucket(capacity, period_ms))

    def acquire(self, now_ms: int, charges: list[tuple[str, int, int, int]]) -> bool:
        """charges: (key, capacity, period_ms, cost); keys in one call are distinct."""
        fits = all([self.bucket(k, c, p).peek(now_ms) >= cost for k, c, p, cost in charges])
        if fits:
            for k, c, p, cost in charges:
                self.bucket(k, c, p).take(now_ms, cost)
        return fits

    def adjust(self, now_ms: int, charges: list[tuple[str, int, int, int]]) -> None:
        for k, c, p, delta in charges:
            self.bucket(k, c, p).correct(now_ms, delta)


@dataclass
class ReferenceBreaker:
    """The breaker as the issue describes it, written as directly as possible."""

    policy: BreakerPolicy
    state: BreakerState = BreakerState.CLOSED
    forced: bool = False
    opened_at: float = 0.0
    probe_until: float = 0.0
    events: list[tuple[float, bool]] = field(default_factory=list)  # (time, success) since last reset
    transitions: int = 0

    def _in_window(self, now: float) -> list[bool]:
        def slot(t: float) -> int:
            return math.floor(t / self.policy.slot_s)

        return [ok for t, ok in self.events if slot(t) > slot(now) - self.policy.buckets]

    def allow(self, now: float) -> tuple[bool, bool]:
        if self.state is BreakerState.CLOSED:
            return True, False
        if self.state is BreakerState.OPEN:
            if self.forced or now < self.opened_at + self.policy.cooldown_s:
                return False, False
            self.state, self.probe_until = BreakerState.HALF_OPEN, now + self.policy.probe_timeout_s
            self.transitions += 1
            return True, True
        if now >= self.probe_until:
            self.probe_until = now + self.policy.probe_timeout_s
            return True, True
        return False, False

    def record(self, now: float, success: bool, probe: bool) -> None:
        if self.state is BreakerState.CLOSED:
            self.events.append((now, success))
            if self.forced or success:
                return
            window = self._in_window(now)
            failures, total = window.count(False), len(window)
            p = self.policy
            by_count = p.failure_threshold is not None and failures >= p.failure_threshold
            by_rate = (
                p.error_rate_threshold is not None
                and total >= p.min_requests
                and failures / total >= p.error_rate_threshold
            )
            if by_count or by_rate:
                self.state, self.opened_at, self.probe_until = BreakerState.OPEN, now, 0.0
                self.transitions += 1
        elif self.state is BreakerState.HALF_OPEN and probe:
            self.probe_until = 0.0
            self.transitions += 1
            if success:
                self.state, self.events = BreakerState.CLOSED, []
            else:
                self.state, self.opened_at = BreakerState.OPEN, now

    def force(self, now: float, state: BreakerState | None) -> None:
        self.events, self.probe_until, self.transitions = [], 0.0, self.transitions + 1
        if state is BreakerState.OPEN:
            self.state, self.forced, self.opened_at = BreakerState.OPEN, True, now
        else:
            self.state, self.forced, self.opened_at = BreakerState.CLOSED, state is not None, 0.0

    def effective_state(self, now: float) -> BreakerState:
        if (
            self.state is BreakerState.OPEN
            and not self.forced
            and now >= self.opened_at + self.policy.cooldown_s
        ):
            return BreakerState.HALF_OPEN
        return self.state

    def window_counts(self, now: float) -> tuple[int, int]:
        """(failures, successes) in the window."""
        window = self._in_window(now)
        return window.count(False), window.count(True)
