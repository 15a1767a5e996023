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
from decimal import Decimal

from msgspec import Struct

from alfred.images.jobs import Route
from alfred.images.queue import QueueDepth
from alfred.images.settings import RoutePolicy, RouterSettings

Clock = Callable[[], float]


class RouteRequest(Struct, frozen=True):
    """What the router needs to know about one job and the primary pool right now.

    A frozen msgspec struct: one is built per job, at a fraction of a frozen dataclass's cost.
    """

    depth: QueueDepth
    primary_slots: int
    deadline_s: float | None = None
    fallback_cost: Decimal = Decimal(0)
    has_primary: bool = True
    has_fallback: bool = True
    fallback_spent_last_hour: Decimal | None = None  # a shared meter's figure; None: this router's own


class RouteOutcome(Struct, frozen=True):
    """One way a decision can go: its route, its code for metrics, its words and its counting key."""

    route: Route
    code: str
    words: str  # the reason, or with a decision's figures a ``str.format`` template for it
    counted: tuple[str, str]  # (route name, code): its key in ``QueueDepthRouter.decisions``


def _outcome(route: Route, code: str, words: str) -> RouteOutcome:
    return RouteOutcome(route, code, words, (route.value, code))


_NO_FALLBACK = _outcome(Route.PRIMARY, "no_fallback", "the model has no fallback backend")
_NO_PRIMARY = _outcome(Route.FALLBACK, "no_primary", "the model has no primary pool")
_ALWAYS_PRIMARY = _outcome(Route.PRIMARY, "policy", "policy always-primary")
_ALWAYS_FALLBACK = _outcome(Route.FALLBACK, "policy", "policy always-fallback")
_BELOW = _outcome(Route.PRIMARY, "below_threshold", "primary queue depth {} < threshold {}")
_AT_OR_ABOVE = _outcome(Route.FALLBACK, "at_threshold", "primary queue depth {} >= threshold {}")
_PREDICTED = "predicted wait {:.1f}s + service {:.1f}s ({} waiting, {} running, {} slots)"
_IN_TIME = _outcome(Route.PRIMARY, "predicted_wait_ok", _PREDICTED + " <= deadline {:g}s")
_LATE = _outcome(Route.FALLBACK, "predicted_wait_late", _PREDICTED + " > deadline {:g}s")
_OVER_CAP = "; but fallback spend ${} in the last hour would pass the cap ${}/h, so it waits on primary"


class RouteDecision(Struct, frozen=True):
    """Where a job goes and why, in words for people and a code for metrics.

    A decision keeps its outcome and the figures the router saw, and ``reason`` writes the words
    from them when read: the gateway reads them once per job, but a simulation decides a million
    times a month and reads none, and formatting them was most of what a decision cost.
    """

    outcome: RouteOutcome
    predicted_wait_s: float | None
    decided_at: float
    figures: tuple[object, ...] = ()  # for the outcome's template; none: its words as they are

    @property
    def route(self) -> Route:
        return self.outcome.route

    @property
    def code(self) -> str:
        return self.outcome.code

    @property
    def reason(self) -> str:
        words = self.outcome.words
        return words.format(*self.figures) if self.figures else words


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
        now = self._clock()
        if not request.has_fallback:
            decision = RouteDecision(_NO_FALLBACK, None, now)
        elif not request.has_primary:
            decision = RouteDecision(_NO_PRIMARY, None, now)
        else:
            decision = self._by_policy(request, now)
            if decision.outcome.route is Route.FALLBACK and self.spend_cap_per_hour is not None:
                decision = self._within_cap(request, decision)
        self.decisions[decision.outcome.counted] += 1
        return decision

    def _within_cap(self, request: RouteRequest, decision: RouteDecision) -> RouteDecision:
        """The fallback decision, or primary if it would take the last hour's fallback spend past the cap."""
        assert self.spend_cap_per_hour is not None
        spent = request.fallback_spent_last_hour
        if spent is None:
            spent = self._spend.total()
        if spent + request.fallback_cost <= self.spend_cap_per_hour:
            return decision
        capped = _outcome(Route.PRIMARY, "spend_cap", decision.outcome.words + _OVER_CAP)
        figures = (*decision.figures, spent, self.spend_cap_per_hour)
        return RouteDecision(capped, decision.predicted_wait_s, decision.decided_at, figures)

    def _by_policy(self, request: RouteRequest, now: float) -> RouteDecision:
        # a decision keeps the figures its words need, as they are now (the mean moves on)
        policy = self.policy
        if policy == "queue-depth":
            total = request.depth.total
            outcome = _BELOW if total < self.threshold else _AT_OR_ABOVE
            return RouteDecision(outcome, None, now, (total, self.threshold))
        if policy == "always-primary":
            return RouteDecision(_ALWAYS_PRIMARY, None, now)
        if policy == "always-fallback":
            return RouteDecision(_ALWAYS_FALLBACK, None, now)
        depth = request.depth
        wait = self.predicted_wait_s(depth, request.primary_slots)
        deadline = request.deadline_s if request.deadline_s is not None else self._default_deadline_s
        mean = self._mean_s
        outcome = _IN_TIME if wait + mean <= deadline else _LATE
        figures = (wait, mean, depth.waiting, depth.in_flight, request.primary_slots, deadline)
        return RouteDecision(outcome, wait, now, figures)
