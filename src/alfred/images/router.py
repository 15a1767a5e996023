"""``QueueDepthRouter``: primary pool or paid fallback, decided from queue depth, predicted wait and spend.

Pure: no I/O, time from an injected clock, so a simulator can drive it on a virtual clock. The
caller measures the queue and passes it in; the router keeps only a running mean of service time
and a rolling hour of fallback spend (unless the caller passes a shared meter's figure).

Policies (``RouterSettings.policy``):

- ``queue-depth`` (the seed's rule, default): depth below the threshold → primary, else fallback.
  Depth counts every job not yet finished on primary (waiting plus running).
- ``predicted-wait``: waiting * mean service time / free primary slots (the pool size when every slot
  is busy), plus the job's own service time, against the request's deadline.
- ``always-primary`` / ``always-fallback``.

Whatever the policy, a fallback that would take the last hour's fallback spend past the cap stays on
primary (it waits rather than being refused), and a model without one of the routes uses the other.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from alfred.images.jobs import Route
from alfred.images.queue import QueueDepth
from alfred.images.settings import RoutePolicy, RouterSettings

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class RouteRequest:
    """What the router needs to know about one job and the primary pool right now."""

    depth: QueueDepth
    primary_slots: int
    deadline_s: float | None = None
    fallback_cost: Decimal = Decimal(0)
    has_primary: bool = True
    has_fallback: bool = True
    fallback_spent_last_hour: Decimal | None = None  # a shared meter's figure; None: this router's own


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """Where a job goes and why, in words for people and a code for metrics."""

    route: Route
    code: str
    reason: str
    predicted_wait_s: float | None
    decided_at: float


class SpendWindow:
    """Spend in the last hour, in one-minute buckets (so old spend leaves the window a minute at a time)."""

    BUCKET_S = 60.0
    BUCKETS = 60

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._buckets: dict[int, Decimal] = {}

    def _slot(self) -> int:
        return math.floor(self._clock() / self.BUCKET_S)

    def add(self, amount: Decimal) -> None:
        slot = self._slot()
        self._buckets[slot] = self._buckets.get(slot, Decimal(0)) + amount
        for old in [s for s in self._buckets if s <= slot - self.BUCKETS]:
            del self._buckets[old]

    def total(self) -> Decimal:
        oldest = self._slot() - self.BUCKETS + 1
        return sum((v for s, v in self._buckets.items() if s >= oldest), Decimal(0))


class QueueDepthRouter:
    """Decides each job's route; counts decisions by (route, code) for metrics."""

    def __init__(
        self,
        policy: RoutePolicy = "queue-depth",
        threshold: int = 50,
        *,
        spend_cap_per_hour: Decimal | None = None,
        default_deadline_s: float = 60.0,
        service_time_prior_s: float = 30.0,
        service_time_alpha: float = 0.2,
        clock: Clock = time.monotonic,
    ) -> None:
        self.policy = policy
        self.threshold = threshold
        self.spend_cap_per_hour = spend_cap_per_hour
        self._default_deadline_s = default_deadline_s
        self._mean_s = service_time_prior_s
        self._alpha = service_time_alpha
        self._clock = clock
        self._spend = SpendWindow(clock)
        self.decisions: Counter[tuple[str, str]] = Counter()

    @classmethod
    def from_settings(cls, settings: RouterSettings, clock: Clock = time.monotonic) -> QueueDepthRouter:
        return cls(
            settings.policy,
            settings.threshold,
            spend_cap_per_hour=settings.fallback_spend_cap_per_hour,
            default_deadline_s=settings.default_deadline_s,
            service_time_prior_s=settings.service_time_prior_s,
            service_time_alpha=settings.service_time_alpha,
            clock=clock,
        )

    @property
    def mean_service_time_s(self) -> float:
        return self._mean_s

    def observe_service_time(self, seconds: float) -> None:
        """Fold one primary job's generation time into the running mean (an EWMA)."""
        if seconds >= 0:
            self._mean_s += self._alpha * (seconds - self._mean_s)

    def record_fallback_spend(self, amount: Decimal) -> None:
        self._spend.add(amount)

    def fallback_spent_last_hour(self) -> Decimal:
        return self._spend.total()

    def predicted_wait_s(self, depth: QueueDepth, primary_slots: int) -> float:
        """Seconds until a job queued now starts: waiting * mean / free slots (/ pool size when all busy)."""
        slots = max(1, primary_slots)
        free = max(0, slots - depth.in_flight)
        if free > 0:
            return depth.waiting * self._mean_s / free
        return (depth.waiting + 1) * self._mean_s / slots

    def decide(self, request: RouteRequest) -> RouteDecision:
        decision = self._decide(request)
        self.decisions[(decision.route.value, decision.code)] += 1
        return decision

    def _decide(self, request: RouteRequest) -> RouteDecision:
        now = self._clock()
        if not request.has_fallback:
            return RouteDecision(Route.PRIMARY, "no_fallback", "the model has no fallback backend", None, now)
        if not request.has_primary:
            return RouteDecision(Route.FALLBACK, "no_primary", "the model has no primary pool", None, now)
        route, code, reason, wait = self._by_policy(request)
        if route is Route.FALLBACK and self.spend_cap_per_hour is not None:
            spent = request.fallback_spent_last_hour
            if spent is None:
                spent = self._spend.total()
            if spent + request.fallback_cost > self.spend_cap_per_hour:
                reason = (
                    f"{reason}; but fallback spend ${spent} in the last hour would pass the cap "
                    f"${self.spend_cap_per_hour}/h, so it waits on primary"
                )
                return RouteDecision(Route.PRIMARY, "spend_cap", reason, wait, now)
        return RouteDecision(route, code, reason, wait, now)

    def _by_policy(self, request: RouteRequest) -> tuple[Route, str, str, float | None]:
        depth = request.depth
        if self.policy == "always-primary":
            return Route.PRIMARY, "policy", "policy always-primary", None
        if self.policy == "always-fallback":
            return Route.FALLBACK, "policy", "policy always-fallback", None
        if self.policy == "queue-depth":
            if depth.total < self.threshold:
                return (
                    Route.PRIMARY,
                    "below_threshold",
                    f"primary queue depth {depth.total} < threshold {self.threshold}",
                    None,
                )
            return (
                Route.FALLBACK,
                "at_threshold",
                f"primary queue depth {depth.total} >= threshold {self.threshold}",
                None,
            )
        wait = self.predicted_wait_s(depth, request.primary_slots)
        deadline = request.deadline_s if request.deadline_s is not None else self._default_deadline_s
        finish = wait + self._mean_s
        words = (
            f"predicted wait {wait:.1f}s + service {self._mean_s:.1f}s "
            f"({depth.waiting} waiting, {depth.in_flight} running, {request.primary_slots} slots)"
        )
        if finish <= deadline:
            return Route.PRIMARY, "predicted_wait_ok", f"{words} <= deadline {deadline:g}s", wait
        return Route.FALLBACK, "predicted_wait_late", f"{words} > deadline {deadline:g}s", wait
