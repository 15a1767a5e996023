"""The Cache stage: answer repeats (exact) and rephrasings (semantic) without calling a provider.

Order of checks: the group's cache is on → the request may use it (no ``Cache-Control: no-store``
or ``X-Alfred-Cache: off``, not privacy mode, temperature 0 unless the group opts in) → exact key
(L1, then L2) → semantic search → call the provider and keep its answer once it has been delivered.
``Cache-Control: no-cache`` skips the lookup but stores the fresh answer (a refresh).

When every deployment fails (a retryable error reaches this stage), an expired answer still inside
``stale_ttl_s`` is served instead, with status ``stale``; ``lookup_stale(call)`` offers the same to
a router that wants to ask itself.

``call.cache_status`` becomes hit | semantic-hit | stale | miss | bypass (the API renders it as
``X-Alfred-Cache``). A hit charges nothing upstream: ``call.usage`` is zero and
``call.notes["cache_hit"]`` tells the quota stage what to charge (the group's cache price) and what
was saved. Each outcome, the similarity of a semantic hit, and the tokens and USD a hit saved (at
the group's list price, ``cost_of``) also go to ``metrics`` (Prometheus, in the app). Answers are
snapshotted as they pass this stage, so what outer stages do to the response (restoring masked PII,
say) never reaches the cache. The cache never fails a request: its own errors are logged and the
request goes on as a miss.

Keys carry the group's flush generation (``generations``, read through a sub-second in-process
cache), so ``POST /admin/cache/flush`` reaches every process without touching an entry; each
lookup's outcome is also counted per group in ``counters`` for ``GET /admin/cache``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from alfred.cache.counters import CacheCounters
from alfred.cache.entry import CachedAnswer
from alfred.cache.exact import ExactCache
from alfred.cache.generations import Generations
from alfred.cache.keys import exact_key, semantic_query, tenant_of
from alfred.cache.replay import ReplayStream, collect
from alfred.cache.settings import CacheSettings, GroupPolicy
from alfred.errors import AlfredError
from alfred.pipeline.call import Call, Result
from alfred.pipeline.stage import Next
from alfred.providers.stream import ChunkStream
from alfred.schema import ChatChunk, ChatRequest, ChatResponse, EmbeddingResponse, Usage
from alfred.state.base import Clock

if TYPE_CHECKING:  # the semantic cache needs numpy, an extra; the exact cache must run without it
    from alfred.cache.semantic import Probe, SemanticCache

log = logging.getLogger("alfred.cache")

CONTROL_HEADER = "x-alfred-cache"
SIMILARITY_HEADER = "x-alfred-cache-similarity"
CostFunction = Callable[[str, Usage], Decimal | None]
"""What ``usage`` on a model group would have cost in USD (for the money-saved figure)."""


class CacheMetrics(Protocol):
    """Where the stage reports outcomes and savings (``GatewayMetrics`` in the app)."""

    def cache_lookup(
        self, group: str | None, result: str | None, similarity: float | None = None
    ) -> None: ...

    def cache_saved(
        self, group: str | None, usd: float, prompt_tokens: int = 0, completion_tokens: int = 0
    ) -> None: ...


_SIMILARITY_BUCKETS = (0.99, 0.98, 0.97, 0.96, 0.95, 0.9, 0.0)
_UNSTORABLE_FINISH = frozenset({"content_filter", "error"})


@dataclass(slots=True)
class CacheStats:
    """Counters for metrics: outcomes, semantic hits by similarity bucket, what hits saved."""

    hits: int = 0
    semantic_hits: int = 0
    stale_hits: int = 0
    misses: int = 0
    bypasses: int = 0
    stores: int = 0
    errors: int = 0
    semantic_buckets: dict[str, int] = field(default_factory=dict)
    prompt_tokens_saved: int = 0
    completion_tokens_saved: int = 0
    usd_saved: Decimal = Decimal(0)

    def snapshot(self) -> dict[str, Any]:
        return {
            "hits": self.hits,
            "semantic_hits": self.semantic_hits,
            "stale_hits": self.stale_hits,
            "misses": self.misses,
            "bypasses": self.bypasses,
            "stores": self.stores,
            "errors": self.errors,
            "semantic_buckets": dict(self.semantic_buckets),
            "prompt_tokens_saved": self.prompt_tokens_saved,
            "completion_tokens_saved": self.completion_tokens_saved,
            "usd_saved": str(self.usd_saved),
        }


def bucket_of(similarity: float) -> str:
    """The similarity bucket a semantic hit is counted in: ">=0.99", ">=0.98", …"""
    return next(f">={b:g}" for b in _SIMILARITY_BUCKETS if similarity >= b)


_response_encoder = msgspec.msgpack.Encoder()
_response_decoder = msgspec.msgpack.Decoder(ChatResponse)
_chunk_decoder = msgspec.msgpack.Decoder(ChatChunk)


def _storable(response: ChatResponse) -> bool:
    return bool(response.choices) and all(c.finish_reason not in _UNSTORABLE_FINISH for c in response.choices)


class CacheStage:
    """Pipeline stage ``cache``; see the module docstring."""

    name = "cache"

    def __init__(
        self,
        settings: CacheSettings,
        exact: ExactCache,
        semantic: SemanticCache | None = None,
        *,
        stats: CacheStats | None = None,
        cost_of: CostFunction | None = None,
        metrics: CacheMetrics | None = None,
        generations: Generations | None = None,
        counters: CacheCounters | None = None,
        clock: Clock = time.time,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._generations = generations
        self._counters = counters
        self._exact = exact
        self._semantic = semantic
        self._cost_of = cost_of
        self._clock = clock
        self._policies: dict[str, GroupPolicy] = {}
        self.stats = stats or CacheStats()

    def policy(self, group: str) -> GroupPolicy:
        policy = self._policies.get(group)
        if policy is None:
            policy = self._policies[group] = self._settings.group(group)
        return policy

    def bypass_reason(self, call: Call, request: ChatRequest, policy: GroupPolicy) -> str | None:
        """Why this call must not use the cache at all, or None."""
        control = call.headers.get(CONTROL_HEADER, "").strip().lower()
        if control in ("off", "bypass", "false", "0", "no"):
            return "header"
        if "no-store" in call.headers.get("cache-control", "").lower():
            return "header"
        if call.privacy:
            return "privacy"
        if not policy.cache_temperature and (request.temperature is None or request.temperature > 0):
            return "temperature"
        return None

    async def __call__(self, call: Call, next: Next) -> Result:
        request = call.request
        if not isinstance(request, ChatRequest) or call.endpoint not in ("chat", "messages"):
            return await next(call)
        policy = self.policy(request.model)
        if not policy.enabled:
            return await next(call)
        reason = self.bypass_reason(call, request, policy)
        refresh = reason is None and "no-cache" in call.headers.get("cache-control", "").lower()
        if reason is not None or refresh:
            call.cache_status = "bypass"
            call.notes["cache_bypass"] = reason or "refresh"
            self.stats.bypasses += 1
            self._looked(request.model, "bypass")
            if reason is not None:
                return await next(call)
        key: str | None = None
        probe: Probe | None = None
        try:
            tenant = tenant_of(
                call.identity.team_id, call.identity.user_id, call.identity.key_id, shared=policy.shared
            )
            generation = await self._generation(request.model)
            key = exact_key(request, tenant, generation)
            if not refresh:
                found = await self._exact.get(key)
                if found is not None:
                    return self._serve(call, found.answer, policy, "hit")
            query = (
                semantic_query(request, tenant, generation) if policy.semantic and self._semantic else None
            )
            if query is not None and self._semantic is not None:
                hit, probe = await self._semantic.lookup(query, policy.threshold)
                if hit is not None and not refresh:
                    return self._serve(call, hit.answer, policy, "semantic-hit", hit.similarity)
        except Exception:
            self.stats.errors += 1
            log.exception("cache lookup failed; the request goes on as a miss")
        if not refresh:
            call.cache_status = "miss"
            self.stats.misses += 1
            self._looked(request.model, "miss")
        try:
            result = await next(call)
        except AlfredError as exc:
            # Every deployment failed (the dispatcher tried them all): an expired answer beats an error.
            if not (exc.retryable and self._settings.serve_stale and key is not None):
                raise
            stale = await self._stale(call, key, policy)
            if stale is None:
                raise
            call.notes["cache_stale_after"] = exc.code
            return stale
        if key is None:
            return result
        return self._keep(call, result, key, probe, policy)

    async def lookup_stale(self, call: Call) -> Result | None:
        """An expired (or fresh) exact answer for when every deployment is down; None if there is none."""
        request = call.request
        if not isinstance(request, ChatRequest):
            return None
        try:
            policy = self.policy(request.model)
            if not policy.enabled or self.bypass_reason(call, request, policy) is not None:
                return None
            tenant = tenant_of(
                call.identity.team_id, call.identity.user_id, call.identity.key_id, shared=policy.shared
            )
            generation = await self._generation(request.model)
            return await self._stale(call, exact_key(request, tenant, generation), policy)
        except Exception:
            self.stats.errors += 1
            log.exception("stale cache lookup failed")
            return None

    async def _stale(self, call: Call, key: str, policy: GroupPolicy) -> Result | None:
        try:
            found = await self._exact.get(key, allow_stale=True)
        except Exception:
            self.stats.errors += 1
            log.exception("stale cache lookup failed")
            return None
        if found is None:
            return None
        return self._serve(call, found.answer, policy, "hit" if found.fresh else "stale")

    def _serve(
        self,
        call: Call,
        answer: CachedAnswer,
        policy: GroupPolicy,
        status: str,
        similarity: float | None = None,
    ) -> Result:
        request = call.request
        assert isinstance(request, ChatRequest)
        saved = answer.usage
        response = answer.response
        response.id = f"chatcmpl-{call.request_id}"
        response.created = int(self._clock())
        response.usage = Usage()
        call.cache_status = status
        call.usage = Usage()
        call.usage_reported = True
        call.outcome = "ok"
        call.model_group = request.model
        call.upstream_model = response.model
        hit: dict[str, Any] = {
            "kind": status,
            "price_usd": policy.price_per_hit_usd,
            "saved_usage": saved,
            "stored_at": answer.stored_at,
        }
        stats = self.stats
        if status == "semantic-hit" and similarity is not None:
            hit["similarity"] = round(similarity, 4)
            call.response_headers[SIMILARITY_HEADER] = f"{similarity:.4f}"
            stats.semantic_hits += 1
            bucket = bucket_of(similarity)
            stats.semantic_buckets[bucket] = stats.semantic_buckets.get(bucket, 0) + 1
        elif status == "stale":
            stats.stale_hits += 1
        else:
            stats.hits += 1
        stats.prompt_tokens_saved += saved.prompt_tokens
        stats.completion_tokens_saved += saved.completion_tokens
        cost = self._cost_of(request.model, saved) if self._cost_of is not None else None
        if cost is not None:
            stats.usd_saved += cost
        self._looked(request.model, status, similarity if status == "semantic-hit" else None)
        if self._metrics is not None:
            self._metrics.cache_saved(
                request.model, float(cost or 0), saved.prompt_tokens, saved.completion_tokens
            )
        call.notes["cache_hit"] = hit
        if request.stream:
            return ReplayStream(response, self._settings.replay_chunk_chars)
        return response

    async def _generation(self, group: str) -> int:
        # Folded into every key, so a flush (a new generation) leaves the old entries unreachable.
        return 0 if self._generations is None else await self._generations.current(group)

    def _looked(self, group: str, status: str, similarity: float | None = None) -> None:
        if self._counters is not None:
            self._counters.record(group, status)
        if self._metrics is not None:
            self._metrics.cache_lookup(group, status, similarity)

    def _keep(self, call: Call, result: Result, key: str, probe: Probe | None, policy: GroupPolicy) -> Result:
        if isinstance(result, ChatResponse):
            if _storable(result):
                snapshot = _response_decoder.decode(_response_encoder.encode(result))
                call.on_finish(_Store(self, key, probe, policy, snapshot))
            return result
        if isinstance(result, EmbeddingResponse):
            return result
        collecting = CollectingStream(result, self._settings.max_entry_bytes)
        call.on_finish(_Store(self, key, probe, policy, None, collecting))
        return collecting

    async def store(self, key: str, probe: Probe | None, policy: GroupPolicy, response: ChatResponse) -> None:
        """Keep an answer under its exact key and, when probed, as a semantic entry."""
        now = self._clock()
        stored = await self._exact.put(
            key, CachedAnswer(response=response, stored_at=now, ttl_s=policy.ttl_s)
        )
        if probe is not None and self._semantic is not None:
            copy = _response_decoder.decode(_response_encoder.encode(response))
            stored = (
                await self._semantic.store(
                    probe, CachedAnswer(response=copy, stored_at=now, ttl_s=policy.ttl_s)
                )
                or stored
            )
        if stored:
            self.stats.stores += 1


class CollectingStream:
    """Passes a stream through unchanged while keeping a snapshot of each chunk, for storing."""

    def __init__(self, inner: ChunkStream, max_bytes: int) -> None:
        self._inner = inner
        self._max_bytes = max_bytes
        self._frames: list[bytes] = []
        self._bytes = 0
        self.overflowed = False
        self.complete = False

    async def __aiter__(self) -> AsyncIterator[ChatChunk]:
        async for chunk in self._inner:
            if not self.overflowed:
                frame = _response_encoder.encode(chunk)
                self._bytes += len(frame)
                if self._bytes > self._max_bytes:
                    self.overflowed = True
                    self._frames.clear()
                else:
                    self._frames.append(frame)
            yield chunk
        self.complete = self._inner.complete

    def response(self, usage: Usage | None) -> ChatResponse | None:
        """The answer the stream spelled, or None when it was cut, too large or empty."""
        if not self.complete or self.overflowed:
            return None
        return collect((_chunk_decoder.decode(f) for f in self._frames), usage)

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Store:
    """The finish hook that stores a delivered answer (never one that failed or was cut)."""

    def __init__(
        self,
        stage: CacheStage,
        key: str,
        probe: Probe | None,
        policy: GroupPolicy,
        response: ChatResponse | None,
        stream: CollectingStream | None = None,
    ) -> None:
        self._stage = stage
        self._key = key
        self._probe = probe
        self._policy = policy
        self._response = response
        self._stream = stream

    async def __call__(self, call: Call) -> None:
        if call.outcome != "ok" or call.error is not None:
            return
        response = self._response
        if self._stream is not None:
            response = self._stream.response(call.usage)
        if response is None or not _storable(response):
            return
        try:
            await self._stage.store(self._key, self._probe, self._policy, response)
        except Exception:
            self._stage.stats.errors += 1
            log.exception("cache store failed")
