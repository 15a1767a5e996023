"""Per-deployment health as this gateway process sees it: latency EWMA and p95, error rate, in flight.

Kept in-process on purpose. Latency and error rate are properties of the upstream, not of the
gateway: behind a load balancer every process sees a fair sample of each deployment's calls, so each
process's estimate converges to the same numbers without a shared-state round trip per request. In
flight is per process too, and "least busy" on local counts is the well-known join-the-shortest-queue
approximation that works well when the balancer already spreads requests. What must be consistent
across processes (a breaker's state, a limit) lives in the state backend instead.
"""

from __future__ import annotations

import bisect
import math
import time
from collections import deque
from dataclasses import dataclass, field

from alfred.state.base import Clock


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    """One deployment's numbers at a moment; None where there is not enough recent data."""

    ewma_ms: float | None
    p95_ms: float | None
    error_rate: float | None
    in_flight: int
    samples: int


@dataclass(slots=True)
class _Stats:
    results: deque[tuple[float, float | None, bool]] = field(default_factory=deque)  # at, latency ms, ok
    sorted_ms: list[float] = field(default_factory=list)  # latencies of ``results``, kept sorted
    failures: int = 0
    ewma_ms: float | None = None
    in_flight: int = 0


class DeploymentHealth:
    """Tracks each deployment's recent results; strategies read it to order candidates.

    Call ``started(id)`` when a request goes to a deployment and ``finished(id, latency_ms, ok)`` when
    it ends (latency: to the first byte for streams, whole call otherwise; None for failures whose
    latency says nothing, like a refused connection). Results older than ``max_age_s`` are forgotten,
    so a deployment that lost traffic for being slow reads "unknown" again and is retried.
    """

    def __init__(
        self,
        *,
        ewma_alpha: float = 0.2,
        window: int = 256,
        max_age_s: float = 300.0,
        min_samples: int = 5,
        clock: Clock = time.monotonic,
    ) -> None:
        if not 0 < ewma_alpha <= 1 or window < 1 or max_age_s <= 0 or min_samples < 1:
            raise ValueError("ewma_alpha in (0, 1], window ≥ 1, max_age_s > 0, min_samples ≥ 1")
        self._alpha = ewma_alpha
        self._window = window
        self._max_age_s = max_age_s
        self._min_samples = min_samples
        self._clock = clock
        self._stats: dict[str, _Stats] = {}

    def _get(self, deployment_id: str) -> _Stats:
        stats = self._stats.get(deployment_id)
        if stats is None:
            stats = self._stats[deployment_id] = _Stats()
        return stats

    def _drop(self, stats: _Stats) -> None:
        _, latency, ok = stats.results.popleft()
        if latency is not None:
            del stats.sorted_ms[bisect.bisect_left(stats.sorted_ms, latency)]
        if not ok:
            stats.failures -= 1

    def _expire(self, stats: _Stats, now: float) -> None:
        cutoff = now - self._max_age_s
        while stats.results and stats.results[0][0] < cutoff:
            self._drop(stats)
        if not stats.results:
            stats.ewma_ms = None  # nothing recent: unknown, so strategies explore it again

    def started(self, deployment_id: str) -> None:
        self._get(deployment_id).in_flight += 1

    def finished(self, deployment_id: str, latency_ms: float | None, ok: bool) -> None:
        stats = self._get(deployment_id)
        stats.in_flight = max(0, stats.in_flight - 1)
        self.record(deployment_id, latency_ms, ok)

    def record(self, deployment_id: str, latency_ms: float | None, ok: bool) -> None:
        """Add a result without touching the in-flight count (for results measured elsewhere)."""
        stats = self._get(deployment_id)
        now = self._clock()
        self._expire(stats, now)
        if len(stats.results) >= self._window:
            self._drop(stats)
        stats.results.append((now, latency_ms, ok))
        if not ok:
            stats.failures += 1
        if latency_ms is not None:
            bisect.insort(stats.sorted_ms, latency_ms)
            previous = stats.ewma_ms
            stats.ewma_ms = (
                latency_ms if previous is None else previous + self._alpha * (latency_ms - previous)
            )

    def snapshot(self, deployment_id: str) -> HealthSnapshot:
        stats = self._stats.get(deployment_id)
        if stats is None:
            return HealthSnapshot(None, None, None, 0, 0)
        self._expire(stats, self._clock())
        n = len(stats.sorted_ms)
        # nearest-rank p95: the smallest sample with at least 95% of samples at or below it
        p95 = stats.sorted_ms[math.ceil(0.95 * n) - 1] if n >= self._min_samples else None
        total = len(stats.results)
        error_rate = stats.failures / total if total >= self._min_samples else None
        return HealthSnapshot(stats.ewma_ms, p95, error_rate, stats.in_flight, total)

    def ewma_ms(self, deployment_id: str) -> float | None:
        return self.snapshot(deployment_id).ewma_ms

    def p95_ms(self, deployment_id: str) -> float | None:
        return self.snapshot(deployment_id).p95_ms

    def in_flight(self, deployment_id: str) -> int:
        stats = self._stats.get(deployment_id)
        return stats.in_flight if stats else 0
