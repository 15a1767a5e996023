"""The circuit breaker per deployment: closed → open → half-open (one probe) → closed or open again.

The state machine itself runs in the state backend (``BreakerStore``: in-process, or one Lua script
in Redis), so every gateway process sees the same breaker and exactly one process gets the half-open
probe. This class adds the policy, the transition callback (metrics) and an optional local cache.

Use from the router::

    breaker = CircuitBreaker(backend.breakers, settings.routing.breaker.policy(), on_transition=metrics)
    for deployment in strategy.order(group.deployments):
        permit = await breaker.allow(deployment.id)
        if permit is None:
            continue                      # open: skip it (fast fail)
        ...call it...
        await breaker.record(deployment.id, success=ok, probe=permit.probe)

Ask ``allow`` for every candidate, open ones included: that call is what turns an open breaker
past its cooldown into a probe, so a cooled-down deployment is probed rather than forgotten. Record
only failures that are the deployment's fault (connect errors, timeouts, 429, 5xx, a stream cut);
a 400 for a bad request is a success as far as the breaker is concerned.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from alfred.state.base import BreakerPolicy, BreakerState, BreakerStatus, BreakerStore, Clock, Transition


@dataclass(frozen=True, slots=True)
class Permit:
    """Leave to send one request to a deployment; ``probe`` marks the single half-open trial."""

    deployment_id: str
    probe: bool = False


class CircuitBreaker:
    """Per-deployment breakers over a shared ``BreakerStore``.

    ``closed_cache_s`` > 0 lets this process trust a "closed" answer for that long without asking the
    store (one Redis round trip saved per request); the price is that a breaker another process opened
    is seen here up to that much later. Transitions made by this process go to ``on_transition``.
    """

    def __init__(
        self,
        store: BreakerStore,
        policy: BreakerPolicy,
        *,
        on_transition: Callable[[Transition], None] | None = None,
        closed_cache_s: float = 0.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self._store = store
        self.policy = policy
        self._on_transition = on_transition
        self._closed_cache_s = closed_cache_s
        self._clock = clock
        self._closed_until: dict[str, float] = {}

    def _notify(self, transition: Transition | None) -> None:
        if transition is None:
            return
        if transition.target is not BreakerState.CLOSED:
            self._closed_until.pop(transition.key, None)
        if self._on_transition is not None:
            self._on_transition(transition)

    async def allow(self, deployment_id: str) -> Permit | None:
        """A permit to call the deployment, or None while its breaker is open (or its probe is out)."""
        if self._closed_cache_s > 0 and self._clock() < self._closed_until.get(deployment_id, 0.0):
            return Permit(deployment_id)
        verdict = await self._store.allow(deployment_id, self.policy)
        self._notify(verdict.transition)
        if not verdict.allowed:
            self._closed_until.pop(deployment_id, None)
            return None
        if not verdict.probe and self._closed_cache_s > 0:
            self._closed_until[deployment_id] = self._clock() + self._closed_cache_s
        return Permit(deployment_id, verdict.probe)

    async def record(self, deployment_id: str, success: bool, probe: bool = False) -> Transition | None:
        """Report how a permitted call went; returns the transition it caused, if any."""
        transition = await self._store.record(deployment_id, success, probe, self.policy)
        self._notify(transition)
        return transition

    async def state(self, deployment_id: str) -> BreakerStatus:
        return await self._store.status(deployment_id, self.policy)

    async def states(self, deployment_ids: Iterable[str]) -> dict[str, BreakerStatus]:
        return {d: await self._store.status(d, self.policy) for d in deployment_ids}

    async def force(self, deployment_id: str, state: BreakerState | None) -> Transition:
        """Admin override: pin open or closed (results then change nothing), or None to resume, reset."""
        if state is BreakerState.HALF_OPEN:
            raise ValueError("a breaker can be forced open or closed, not half-open")
        self._closed_until.pop(deployment_id, None)
        transition = await self._store.force(deployment_id, state, self.policy)
        assert transition is not None
        self._notify(transition)
        return transition

    async def transitions(self, deployment_id: str, limit: int = 50) -> list[Transition]:
        """The breaker's latest transitions, newest first (from every process, kept in the store)."""
        return await self._store.transitions(deployment_id, limit)
