"""Each deployment's own rpm/tpm caps: token buckets in the shared state backend, checked per attempt.

A deployment at its cap is skipped by the dispatcher the way an open breaker is, so traffic spills
to the group's other deployments and then to the fallback groups. The buckets live in the state
backend's ``RateLimiter`` (in-process, or one Lua script in Redis), so N gateway processes together
send a deployment at most its cap, not N times it.

Token caps reserve an estimate (prompt estimate + ``max_tokens``, or ``default_completion_tokens``)
before the attempt and are trued up to the real usage when the call finishes. An attempt that never
went out (the breaker refused it) gives everything back; one that failed gives its tokens back but
keeps its request, since the upstream did see it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from alfred.pipeline.call import Call
from alfred.routing.catalog import Deployment
from alfred.schema import ChatRequest, EmbeddingRequest
from alfred.schema.tokens import estimate_prompt_tokens, estimate_text_tokens
from alfred.state.base import Charge, Limit, RateLimiter

log = logging.getLogger("alfred.routing")

_MINUTE = 60.0


def token_estimate(request: ChatRequest | EmbeddingRequest, default_completion_tokens: int) -> int:
    """Tokens to reserve for a request before its usage is known (prompt estimate + the answer's limit)."""
    if isinstance(request, ChatRequest):
        limit = request.output_limit()
        completion = default_completion_tokens if limit is None else limit
        return estimate_prompt_tokens(request) + completion * max(1, request.n or 1)
    if isinstance(request.input, list) and request.input and not isinstance(request.input[0], str):
        return sum(len(x) if isinstance(x, list) else 1 for x in request.input)  # token ids
    return sum(estimate_text_tokens(t) for t in request.texts())


@dataclass(frozen=True, slots=True)
class CapGrant:
    """What an admitted attempt took from its deployment's buckets (empty when it has no caps)."""

    requests: Charge | None = None
    tokens: Charge | None = None


UNCAPPED = CapGrant()


class DeploymentCaps:
    """Admits attempts against each deployment's ``rpm``/``tpm`` (see the module docstring).

    ``fail_open``: when the state backend fails, let the attempt through (and log) rather than
    refuse traffic the deployment could have served.
    """

    def __init__(
        self, limiter: RateLimiter, *, default_completion_tokens: int = 256, fail_open: bool = True
    ) -> None:
        self._limiter = limiter
        self._default_completion_tokens = default_completion_tokens
        self._fail_open = fail_open
        self._limits: dict[int, Limit] = {}  # per-minute capacity → Limit, so attempts build none

    @staticmethod
    def applies(deployment: Deployment) -> bool:
        return deployment.rpm is not None or deployment.tpm is not None

    def _limit(self, per_minute: int) -> Limit:
        limit = self._limits.get(per_minute)
        if limit is None:
            limit = self._limits[per_minute] = Limit(per_minute, _MINUTE)
        return limit

    async def acquire(self, call: Call, deployment: Deployment) -> CapGrant | float:
        """A grant, or the seconds until the deployment has room (``inf``: the request can never fit)."""
        if not self.applies(deployment):
            return UNCAPPED
        requests = tokens = None
        if deployment.rpm is not None:
            requests = Charge(f"deployment:{deployment.id}:r", self._limit(deployment.rpm), 1)
        if deployment.tpm is not None:
            estimate = call.notes.get("token_estimate")
            if not isinstance(estimate, int):
                estimate = call.notes["token_estimate"] = token_estimate(
                    call.request, self._default_completion_tokens
                )
            tokens = Charge(f"deployment:{deployment.id}:t", self._limit(deployment.tpm), estimate)
        charges = [c for c in (requests, tokens) if c is not None]
        try:
            decisions = await self._limiter.acquire(charges)
        except Exception:
            if not self._fail_open:
                raise
            log.warning(
                "deployment caps unavailable; attempt on %s let through", deployment.id, exc_info=True
            )
            return UNCAPPED
        if decisions[0].allowed:
            return CapGrant(requests, tokens)
        return max(d.retry_after_s for d in decisions)

    async def release(self, grant: CapGrant) -> None:
        """The attempt never went out: give back everything it took."""
        await self._refund([c for c in (grant.requests, grant.tokens) if c is not None])

    async def failed(self, grant: CapGrant) -> None:
        """The attempt failed: its request counts (the upstream saw it), its tokens go back."""
        if grant.tokens is not None:
            await self._refund([grant.tokens])

    async def settle(self, grant: CapGrant, used_tokens: int) -> None:
        """The call is over: correct the token reservation to what it really used."""
        if grant.tokens is None:
            return
        delta = used_tokens - grant.tokens.cost
        if delta:
            await self._adjust([Charge(grant.tokens.key, grant.tokens.limit, delta)])

    async def _refund(self, charges: list[Charge]) -> None:
        if charges:
            await self._adjust([Charge(c.key, c.limit, -c.cost) for c in charges])

    async def _adjust(self, charges: list[Charge]) -> None:
        try:
            await self._limiter.adjust(charges)
        except Exception:
            # A lost correction only skews one bucket until it refills; never fail the call for it.
            log.warning("deployment cap correction lost", exc_info=True)


class CapSettlement:
    """The finish hook that trues the serving deployment's token reservation up to the call's usage."""

    def __init__(self, caps: DeploymentCaps, grant: CapGrant) -> None:
        self._caps = caps
        self._grant = grant
        self._done = False

    async def __call__(self, call: Call) -> None:
        if self._done:
            return
        self._done = True
        used = call.usage.total_tokens if call.usage is not None else 0
        await self._caps.settle(self._grant, used)


def retry_after(waits: list[float], fallback_s: float = _MINUTE) -> int:
    """Whole seconds until the soonest capped deployment has room (``fallback_s`` when none ever will)."""
    finite = [w for w in waits if not math.isinf(w)]
    return max(1, math.ceil(min(finite) if finite else fallback_s))
