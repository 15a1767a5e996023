"""The rate-limit stage: token buckets for requests and tokens per minute, per key, user, team, model, IP.

One ``RateLimiter.acquire`` (one Redis round trip) checks every configured scope at once, all or
nothing. Token limits reserve an estimate up front (prompt estimate + ``max_tokens``, or
``default_completion_tokens`` when the request sets none) and are corrected to the real usage when
the call finishes (a finish hook, so the correction never delays the response; a failed call gives
its reservation back).

Where identity comes from: when this stage runs after auth, ``call.identity`` names the key (its
``key_id``), user and team, and a key's own ``rpm_limit``/``tpm_limit`` override the configured key
default. When it runs before auth (the seed's order), only the key scope can apply: its bucket is a
keyed hash prefix of the presented credential (``Authorization: Bearer …`` or ``x-api-key``), limited
by the configured key default, and user/team buckets are skipped. ``key_limits`` looks a key's own
limits up: with governance on, the composition root passes ``alfred.governance.key_limits``, which asks
the authenticator's cache, so limits set through the admin API apply in the seed's order too.

OpenAI's headers go on ``call.response_headers`` (the tightest scope's numbers); over a limit, the
stage raises ``RateLimitError`` (429) carrying them plus ``retry-after``, and tells ``rejected`` (the
metrics) which scope refused: this stage runs before the Metrics stage, which never sees the call.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from alfred.errors import RateLimitError
from alfred.pipeline.call import Call, Identity, Result
from alfred.pipeline.stage import Next
from alfred.routing.caps import token_estimate
from alfred.routing.settings import RateLimitSettings, RateValue
from alfred.state.base import Charge, Decision, Limit, RateLimiter

log = logging.getLogger("alfred.rate_limit")

KeyLimits = Callable[[Call], Awaitable[RateValue | None]]
"""Looks up a key's own limits for a call (e.g. by the credential's hash before auth has run)."""

_MINUTE = 60.0
_MAX_ID = 128  # longer scope ids (say, a made-up model name) are hashed, to bound key sizes


def go_duration(seconds: float) -> str:
    """A duration as OpenAI writes resets (Go's format): ``"20ms"``, ``"1s"``, ``"6m0s"``, ``"1m30.5s"``."""
    ms = max(0, math.ceil(seconds * 1000 - 1e-6))  # rounded up, so a client never returns too early
    if ms < 1000:
        return f"{ms}ms" if ms else "0s"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest // 1000}.{rest % 1000:03d}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


async def identity_key_limits(call: Call) -> RateValue | None:
    """The key's own limits from ``call.identity`` (``rpm_limit``/``tpm_limit``, set by auth)."""
    rpm = getattr(call.identity, "rpm_limit", None)
    tpm = getattr(call.identity, "tpm_limit", None)
    return RateValue(rpm=rpm, tpm=tpm) if rpm or tpm else None


@dataclass(frozen=True, slots=True)
class _Bucket:
    scope: str
    unit: str  # "requests" | "tokens"
    charge: Charge


class RateLimitStage:
    """Applies the configured per-minute limits; see the module docstring for scopes and identity."""

    name = "rate_limit"

    def __init__(
        self,
        limiter: RateLimiter,
        settings: RateLimitSettings,
        *,
        key_hash_secret: bytes = b"",
        key_limits: KeyLimits = identity_key_limits,
        rejected: Callable[[str], None] | None = None,
    ) -> None:
        self._limiter = limiter
        self._settings = settings
        # blake2b in keyed mode: one C call (HMAC-SHA256 costs several Python-level steps per request)
        self._hash_key = hashlib.sha256(key_hash_secret).digest()
        self._key_limits = key_limits
        self._rejected = rejected  # told the refusing scope of each 429 (metrics: this stage runs first)
        self._limits: dict[int, Limit] = {}  # per-minute capacity → Limit, so requests build none

    async def __call__(self, call: Call, next: Next) -> Result:
        if not self._settings.enabled:
            return await next(call)
        buckets, estimate = await self._buckets(call)
        if not buckets:
            return await next(call)
        try:
            decisions = await self._limiter.acquire([b.charge for b in buckets])
        except Exception:
            if not self._settings.fail_open:
                raise
            log.warning("rate limiter unavailable; request let through", exc_info=True)
            return await next(call)
        headers = _headers(buckets, decisions)
        call.response_headers.update(headers)
        if not decisions[0].allowed:
            refusal, scope = _refusal(buckets, decisions, headers)
            if self._rejected is not None:
                self._rejected(scope)
            raise refusal
        token_charges = [b.charge for b in buckets if b.unit == "tokens"]
        if token_charges:
            call.on_finish(_Settlement(self._limiter, token_charges, estimate))
        return await next(call)

    def _estimate(self, call: Call) -> int:
        estimate = token_estimate(call.request, self._settings.default_completion_tokens)
        call.notes["token_estimate"] = estimate  # the deployment caps reserve the same figure
        return estimate

    def _limit(self, per_minute: int) -> Limit:
        limit = self._limits.get(per_minute)
        if limit is None:
            limit = self._limits[per_minute] = Limit(per_minute, _MINUTE)
        return limit

    async def _buckets(self, call: Call) -> tuple[list[_Bucket], int]:
        """The buckets this call is charged to, and its token estimate (0 when no token bucket applies)."""
        s = self._settings
        identity: Identity = call.identity
        scopes: list[tuple[str, str, RateValue | None]] = []
        key_id = identity.key_id or self._credential_hash(call.headers)
        if key_id is not None:
            scopes.append(("key", key_id, await self._key_limits(call) or s.key))
        if identity.user_id is not None:
            scopes.append(("user", identity.user_id, s.user))
        if identity.team_id is not None:
            scopes.append(("team", identity.team_id, s.team))
        scopes.append(("model", call.request.model, s.models.get(call.request.model, s.model)))
        if call.client_ip is not None:
            scopes.append(("ip", call.client_ip, s.ip))
        buckets = []
        estimate = -1
        for scope, ident, value in scopes:
            if value is None:
                continue
            if len(ident) > _MAX_ID:
                ident = "h:" + hashlib.sha256(ident.encode()).hexdigest()[:32]
            if value.rpm is not None:
                charge = Charge(f"{scope}:{ident}:r", self._limit(value.rpm), 1)
                buckets.append(_Bucket(scope, "requests", charge))
            if value.tpm is not None:
                if estimate < 0:
                    estimate = self._estimate(call)
                charge = Charge(f"{scope}:{ident}:t", self._limit(value.tpm), estimate)
                buckets.append(_Bucket(scope, "tokens", charge))
        return buckets, max(0, estimate)

    def _credential_hash(self, headers: dict[str, str]) -> str | None:
        auth = headers.get("authorization", "")
        secret = auth[7:].strip() if auth[:7].lower() == "bearer " else headers.get("x-api-key", "").strip()
        if not secret:
            return None
        return "h:" + hashlib.blake2b(secret.encode(), key=self._hash_key, digest_size=12).hexdigest()


class _Settlement:
    """The finish hook that trues a token reservation up to the call's real usage (once)."""

    def __init__(self, limiter: RateLimiter, charges: list[Charge], reserved: int) -> None:
        self._limiter = limiter
        self._charges = charges
        self._reserved = reserved
        self._done = False

    async def __call__(self, call: Call) -> None:
        if self._done:
            return
        self._done = True
        used = call.usage.total_tokens if call.usage is not None else 0
        delta = used - self._reserved
        if delta:
            await self._limiter.adjust([Charge(c.key, c.limit, delta) for c in self._charges])


def _tightest(buckets: list[_Bucket], decisions: list[Decision], unit: str) -> Decision | None:
    chosen = [d for b, d in zip(buckets, decisions, strict=True) if b.unit == unit]
    return min(chosen, key=lambda d: (d.remaining, -d.reset_s)) if chosen else None


def _headers(buckets: list[_Bucket], decisions: list[Decision]) -> dict[str, str]:
    headers = {}
    for unit in ("requests", "tokens"):
        d = _tightest(buckets, decisions, unit)
        if d is not None:
            headers[f"x-ratelimit-limit-{unit}"] = str(d.limit)
            headers[f"x-ratelimit-remaining-{unit}"] = str(d.remaining)
            headers[f"x-ratelimit-reset-{unit}"] = go_duration(d.reset_s)
    return headers


def _refusal(
    buckets: list[_Bucket], decisions: list[Decision], headers: dict[str, str]
) -> tuple[RateLimitError, str]:
    """The 429 for a refused call, and the scope whose bucket refused it (the longest wait)."""
    bucket, decision = max(zip(buckets, decisions, strict=True), key=lambda pair: pair[1].retry_after_s)
    per = "requests per min (RPM)" if bucket.unit == "requests" else "tokens per min (TPM)"
    requested = math.ceil(bucket.charge.cost)
    if math.isinf(decision.retry_after_s):
        message = (
            f"Request too large for this {bucket.scope}'s {per}: Limit {decision.limit}, "
            f"Requested {requested}. Send fewer tokens or a smaller max_tokens."
        )
        wait = _MINUTE
    else:
        wait = decision.retry_after_s
        message = (
            f"Rate limit reached for this {bucket.scope}'s {per}: Limit {decision.limit}, "
            f"Remaining {decision.remaining}, Requested {requested}. "
            f"Please try again in {go_duration(wait)}."
        )
    retry = {"retry-after": str(max(1, math.ceil(wait))), "retry-after-ms": str(math.ceil(wait * 1000))}
    return RateLimitError(message, headers={**headers, **retry}), bucket.scope
