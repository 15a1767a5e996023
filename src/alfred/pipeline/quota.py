"""The quota stage: reserve a request's worst-case cost before the upstream call, settle the real cost
after it, release everything on failure.

Only identified users pay: an anonymous or master-key call has no wallet and passes through. The
wallet is picked by the ledger's cascade (``alfred.ledger.governance``): personal wallet → the team
pool for priority work (the key's or user's flag, or ``X-Alfred-Priority: critical``, alias
``X-Project-Priority``) → a vacationing teammate's share → refused with 402 ``insufficient_quota``
before anything is sent upstream.

Idempotency: the ledger keys a reservation by ``u<user>/<request id>`` (scoped per user, so two users
who pick the same ``X-Request-ID`` never meet). A retry whose first attempt was charged, or is still
holding, is refused with 409 ``duplicate_request`` and charged nothing; one whose first attempt failed
(released) or died (expired) runs again under ``…#2``, ``…#3``. Upstream retries inside the router
happen under the one reservation, so they cannot charge twice either.

Whole responses are settled before their headers go out (``X-Alfred-Cost``, in credits); streams at
their end, from the provider's usage or the counted text, including a stream the client left early.
``X-Alfred-Privacy: strict`` (alias ``X-Privacy-Mode``) sets ``call.privacy`` for the cache and logs.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator

from alfred.errors import InvalidRequestError
from alfred.governance.costing import Costing
from alfred.governance.settings import QuotaSettings
from alfred.ledger.governance import Governance
from alfred.ledger.money import format_credits
from alfred.ledger.wallets import Hold, Wallets
from alfred.pipeline.call import Call, Result
from alfred.pipeline.stage import Next
from alfred.providers.stream import ChunkStream
from alfred.schema import ChatChunk, ChatRequest, ChatResponse, EmbeddingResponse, Usage
from alfred.schema.tokens import estimate_prompt_tokens

log = logging.getLogger("alfred.quota")

COST_HEADER = "x-alfred-cost"
WARNING_HEADER = "x-alfred-budget-warning"
PRIORITY_HEADERS = ("x-alfred-priority", "x-project-priority")
PRIVACY_HEADERS = ("x-alfred-privacy", "x-privacy-mode")
CACHE_HITS = frozenset({"hit", "semantic-hit", "stale"})
MAX_ATTEMPTS = 8  # fresh reservations one request id may take after failed attempts
_ID_LIMIT = 120  # the ledger's request id column holds 128, and "#n" may follow


class DuplicateRequestError(InvalidRequestError):
    """This request id was already served (and charged), or is being served right now."""

    status = 409
    code = "duplicate_request"


def header_is(call: Call, names: tuple[str, ...], value: str) -> bool:
    return any(call.headers.get(name, "").strip().lower() == value for name in names)


def privacy_requested(call: Call) -> bool:
    return header_is(call, PRIVACY_HEADERS, "strict")


def ledger_request_id(user_id: int, request_id: str) -> str:
    """The request id as the ledger knows it: scoped to the user, and short enough for its column."""
    scoped = f"u{user_id}/{request_id}"
    if len(scoped) <= _ID_LIMIT:
        return scoped
    return f"u{user_id}/sha256:{hashlib.sha256(request_id.encode()).hexdigest()[:64]}"


def _ledger_int(value: str | None) -> int | None:
    """Identity ids are strings on the Call; the ledger's are integers (anything else is not a ledger
    user: a master key, an anonymous caller)."""
    return int(value) if value is not None and value.isdigit() else None


class QuotaStage:
    """Pipeline stage ``quota``; see the module docstring."""

    name = "quota"

    def __init__(
        self, governance: Governance, wallets: Wallets, costing: Costing, settings: QuotaSettings
    ) -> None:
        self._governance = governance
        self._wallets = wallets
        self._costing = costing
        self._settings = settings

    async def __call__(self, call: Call, next: Next) -> Result:
        if privacy_requested(call):
            call.privacy = True
        user_id = _ledger_int(call.identity.user_id)
        if user_id is None or not self._settings.enabled:
            return await next(call)
        hold = await self._reserve(call, user_id, self._costing.estimate(call))
        if hold.soft_limit_warning:
            call.response_headers[WARNING_HEADER] = "soft limit reached: the wallet paying is running low"
        try:
            result = await next(call)
        except BaseException:
            await self._release(hold.request_id)
            raise
        if call.cache_status in CACHE_HITS and "cache_hit" in call.notes:
            cost = self._costing.cache_hit(call, call.notes["cache_hit"])
            await self._settle(call, hold, cost, Usage(), kind="cache_hit")
            return result
        if isinstance(result, ChatResponse | EmbeddingResponse):
            usage = call.usage or Usage()
            await self._settle(call, hold, self._cost(call, hold, usage), usage)
            return result
        stream = ChargedStream(result)
        # First among the finish hooks: the stages inside this one (metrics) registered theirs earlier,
        # and the metrics stage must find the stream's cost on ``call.cost_micros`` when it records.
        call.finish_hooks.insert(0, lambda finished: self._settle_stream(finished, hold, stream))
        return stream

    async def _reserve(self, call: Call, user_id: int, amount: int) -> Hold:
        base = ledger_request_id(user_id, call.request_id)
        # An id the gateway made (the client sent none) was never used before: the ledger may hold it
        # on a credit lease. A client's id keeps the per-request hold, whose unique index refuses a
        # retry that arrives at another gateway at the same moment.
        fresh = "x-request-id" not in call.headers
        identity = call.identity
        priority = identity.priority or header_is(call, PRIORITY_HEADERS, "critical")
        for attempt in range(1, MAX_ATTEMPTS + 1):
            request_id = base if attempt == 1 else f"{base}#{attempt}"
            hold = await self._governance.reserve(
                user_id, request_id, amount, key_id=_ledger_int(identity.key_id), priority=priority,
                model=call.request.model, ip_address=call.client_ip, fresh_id=fresh,
            )  # fmt: skip
            if not hold.replayed:
                return hold
            if hold.state == "settled":
                raise DuplicateRequestError(
                    f"request {call.request_id} was already served and charged; send a new X-Request-ID "
                    "for a new request",
                    headers={"x-should-retry": "false"},
                )
            if hold.state == "open":
                raise DuplicateRequestError(
                    f"request {call.request_id} is being served right now; it is charged once",
                    code="request_in_progress",
                    headers={"x-should-retry": "false"},
                )
            # Released or expired: that attempt ended without a charge, so this one may run. (An expired
            # hold whose process still lives and settles late is charged too, which is why
            # reservation_ttl_s must stay well above the longest request.)
        raise DuplicateRequestError(
            f"request {call.request_id} was tried {MAX_ATTEMPTS} times; send a new X-Request-ID",
            headers={"x-should-retry": "false"},
        )

    def _cost(self, call: Call, hold: Hold, usage: Usage) -> int:
        cost = self._costing.actual(call, usage)
        # A deployment the catalog does not know (cannot happen unless routing changed under us):
        # charge the hold, which the estimate sized for the dearest deployment.
        return hold.amount if cost is None else cost

    async def _settle(self, call: Call, hold: Hold, cost: int, usage: Usage, *, kind: str = "charge") -> None:
        try:
            charge = await self._wallets.settle(
                hold.request_id, cost, model=call.upstream_model or call.model_group, provider=call.provider,
                prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens, kind=kind,
            )  # fmt: skip
        except Exception:
            # The answer is already paid for upstream: the client still gets it. The hold stays open
            # until reconciliation expires it (a settle that comes later still charges).
            log.exception("settling request %s failed", call.request_id)
            return
        call.cost_micros = charge.charged
        call.response_headers[COST_HEADER] = format_credits(charge.charged)

    async def _settle_stream(self, call: Call, hold: Hold, stream: ChargedStream) -> None:
        if stream.chunks == 0 and call.outcome != "ok":
            await self._release(hold.request_id)  # nothing was generated
            return
        usage = call.usage or stream.counted(call)
        await self._settle(call, hold, self._cost(call, hold, usage), usage)

    async def _release(self, request_id: str) -> None:
        try:
            # Shielded: a cancelled request (the client left) must still give its hold back.
            await asyncio.shield(self._wallets.release(request_id))
        except Exception:
            log.exception("releasing reservation %s failed; reconciliation will expire it", request_id)


class ChargedStream:
    """Passes a stream through, counting what went by: the charge when the stream ends before its
    metering does (a client that left while a chunk was on its way out)."""

    def __init__(self, inner: ChunkStream) -> None:
        self._inner = inner
        self.chunks = 0
        self.text_chars = 0
        self.reported: Usage | None = None
        self.complete = False

    async def __aiter__(self) -> AsyncIterator[ChatChunk]:
        chunks = aiter(self._inner)
        try:
            async for chunk in chunks:
                self.chunks += 1
                for choice in chunk.choices:
                    delta = choice.delta
                    self.text_chars += len(delta.content or "")
                    for tool in delta.tool_calls or ():
                        if tool.function is not None:
                            self.text_chars += len(tool.function.arguments or "") + len(
                                tool.function.name or ""
                            )
                if chunk.usage:
                    self.reported = chunk.usage
                yield chunk
            self.complete = self._inner.complete
        finally:
            # Close the streams below now rather than whenever the collector finds them, so their
            # metering (and the upstream's cancellation) is done before this call is settled.
            if isinstance(chunks, AsyncGenerator):
                await chunks.aclose()

    def counted(self, call: Call) -> Usage:
        if self.reported is not None and self.reported.completion_tokens:
            return self.reported
        assert isinstance(call.request, ChatRequest)
        prompt = self.reported.prompt_tokens if self.reported else estimate_prompt_tokens(call.request)
        completion = (self.text_chars + 3) // 4
        return Usage(prompt, completion, prompt + completion)

    async def aclose(self) -> None:
        await self._inner.aclose()
