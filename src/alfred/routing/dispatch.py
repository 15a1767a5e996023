"""The pipeline's handler: walks the router's plan past capped deployments and open breakers, retrying
before the first byte.

Retries walk the plan (the group's deployments in the strategy's order, then its fallbacks) and, when
retries are left after the last one, walk it again: ``retries: 2`` is three attempts whatever the
group's size, a group of one included. Each attempt first takes from the deployment's own rpm/tpm caps (one at its cap is skipped), then
asks its circuit breaker for a permit (an open breaker is skipped; one past its cooldown gets the
single half-open probe), reports the outcome to the breaker and to the health tracker, and moves on
to the next deployment on a retryable failure. A stream's outcome is known only when it ends, so
streams report then; a failure after the first byte is never retried. Caps are checked before the
breaker so that a capped deployment never claims (and strands) the half-open probe.

When no deployment of the plan could be tried: 429 with ``Retry-After`` if any was at its cap
(capacity frees up within a minute), else 503 (every breaker open).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator

from alfred.errors import AlfredError, InvalidRequestError, RateLimitError, ServiceUnavailableError
from alfred.pipeline.call import Call, Result
from alfred.providers.stream import ChunkStream
from alfred.providers.transport import HttpTransport
from alfred.providers.upstream_stream import UpstreamChunkStream
from alfred.routing.breaker import CircuitBreaker, Permit
from alfred.routing.caps import UNCAPPED, CapGrant, CapSettlement, DeploymentCaps, retry_after
from alfred.routing.catalog import Deployment
from alfred.routing.health import DeploymentHealth
from alfred.routing.router import Router
from alfred.schema import ChatChunk, ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse


class _Walk:
    """The plan, walked again while retries are left: a group of one deployment gets its retries too
    (a timeout or a 503 is often gone on the next try). A pass in which nothing could be tried (every
    deployment open or at its cap) ends the walk; the dispatcher says ``attempted`` when it tries one."""

    def __init__(self, plan: list[Deployment], passes: int) -> None:
        self._plan = plan
        self._passes = passes
        self.attempted = False

    def __iter__(self) -> Iterator[Deployment]:
        for _ in range(self._passes):
            self.attempted = False
            yield from self._plan
            if not self.attempted:
                return


class Dispatcher:
    """Routes a call and performs the upstream attempts (retries go to the next deployment)."""

    def __init__(
        self,
        router: Router,
        transport: HttpTransport,
        breaker: CircuitBreaker,
        health: DeploymentHealth,
        *,
        retries: int = 2,
        backoff_s: float = 0.05,
        rng: random.Random | None = None,
        caps: DeploymentCaps | None = None,
        on_capped: Callable[[str], None] | None = None,
    ) -> None:
        self._router = router
        self._caps = caps
        self._on_capped = on_capped  # told when every deployment of a call was at its cap (metrics)
        self._transport = transport
        self._breaker = breaker
        self._health = health
        self._retries = retries
        self._backoff_s = backoff_s
        self._rng = rng or random.Random()  # noqa: S311  # nosec B311 - jitter, not security

    async def __call__(self, call: Call) -> Result:
        group = self._router.group_for(call)
        wanted = "embeddings" if call.endpoint == "embeddings" else "chat"
        if group.kind != wanted:
            raise InvalidRequestError(
                f"model '{group.name}' is a {group.kind} model and cannot serve {wanted} requests",
                param="model",
                code="model_not_supported",
            )
        call.model_group = group.name
        last: AlfredError | None = None
        tried = 0
        capped: list[float] = []  # seconds until each capped deployment has room
        walk = _Walk(self._router.plan(call, group), self._retries + 1)
        for deployment in walk:
            if tried > self._retries:
                break
            grant = UNCAPPED
            if self._caps is not None and self._caps.applies(deployment):
                taken = await self._caps.acquire(call, deployment)
                if not isinstance(taken, CapGrant):
                    capped.append(taken)
                    continue  # at its cap: skip it like an open breaker
                grant = taken
            permit = await self._breaker.allow(deployment.id)
            if permit is None:
                if grant is not UNCAPPED and self._caps is not None:
                    await self._caps.release(grant)
                continue  # open: fast-fail this deployment without a request
            if tried:
                await asyncio.sleep(self._backoff_s * (2 ** (tried - 1)) * (0.5 + self._rng.random()))
            tried += 1
            walk.attempted = True
            call.attempts = tried
            call.provider = deployment.endpoint.provider
            call.provider_kind = deployment.endpoint.kind
            call.upstream_model = deployment.endpoint.model
            call.deployment_id = deployment.id
            try:
                result = await self._attempt(call, deployment, permit)
            except AlfredError as exc:
                if grant is not UNCAPPED and self._caps is not None:
                    await self._caps.failed(grant)
                if not exc.retryable:
                    raise
                last = exc
                continue
            if grant.tokens is not None and self._caps is not None:
                call.on_finish(CapSettlement(self._caps, grant))
            return result
        if last is not None:
            raise last
        if capped:
            if self._on_capped is not None:
                self._on_capped("deployment")
            spill = " and of its fallbacks" if group.fallbacks else ""
            raise RateLimitError(
                f"every deployment of model group '{group.name}'{spill} is at its rate cap (rpm/tpm); "
                "retry later",
                headers={"retry-after": str(retry_after(capped))},
            )
        raise ServiceUnavailableError(
            f"every deployment of model group '{group.name}' is unavailable (circuit open); retry later",
            code="no_healthy_deployment",
            headers={"retry-after": str(max(1, int(self._breaker.policy.cooldown_s)))},
        )

    async def _attempt(self, call: Call, deployment: Deployment, permit: Permit) -> Result:
        started = time.perf_counter_ns()
        self._health.started(deployment.id)
        try:
            result = await self._send(call, deployment)
        except AlfredError as exc:
            # A refused request (4xx but 429) says nothing about the deployment's health.
            healthy = not exc.retryable
            self._health.finished(deployment.id, None, healthy)
            await self._breaker.record(deployment.id, healthy, permit.probe)
            raise
        except BaseException:
            self._health.finished(deployment.id, None, True)
            raise
        latency_ms = (time.perf_counter_ns() - started) / 1e6
        if isinstance(result, ChatResponse | EmbeddingResponse):
            self._health.finished(deployment.id, latency_ms, True)
            await self._breaker.record(deployment.id, True, permit.probe)
            return result
        return ObservedStream(result, self, deployment, permit, latency_ms)

    async def stream_ended(self, deployment: Deployment, permit: Permit, latency_ms: float, ok: bool) -> None:
        self._health.finished(deployment.id, latency_ms if ok else None, ok)
        await self._breaker.record(deployment.id, ok, permit.probe)

    async def _send(self, call: Call, deployment: Deployment) -> Result:
        adapter = deployment.adapter
        endpoint = deployment.endpoint
        request = call.request
        started = time.perf_counter_ns()
        if isinstance(request, EmbeddingRequest):
            upstream = adapter.embeddings_request(request, endpoint)
            response = await self._transport.send(upstream, deployment.timeouts, endpoint.provider)
            call.upstream_ns = time.perf_counter_ns() - started
            if response.status >= 400:
                raise adapter.map_error(response.status, response.headers, response.body)
            result: EmbeddingResponse = adapter.embeddings_response(response.body, endpoint)
            return result
        assert isinstance(request, ChatRequest)
        upstream = adapter.chat_request(request, endpoint)
        if not request.stream:
            response = await self._transport.send(upstream, deployment.timeouts, endpoint.provider)
            call.upstream_ns = time.perf_counter_ns() - started
            if response.status >= 400:
                raise adapter.map_error(response.status, response.headers, response.body)
            chat: ChatResponse = adapter.chat_response(response.body, endpoint)
            return chat
        opened = await self._transport.open_stream(upstream, deployment.timeouts, endpoint.provider)
        if opened.status >= 400:
            body = await opened.body()
            raise adapter.map_error(opened.status, opened.headers, body)
        stream = UpstreamChunkStream(opened, adapter.chat_stream(endpoint), endpoint.provider)
        try:
            await stream.prime()
        except BaseException:
            await stream.aclose()
            raise
        call.upstream_ns = time.perf_counter_ns() - started
        return stream


class ObservedStream:
    """Passes a stream through and reports its outcome to the breaker and health once it ends.

    A stream cut after its first byte counts as the deployment's failure; a client that leaves
    (cancellation) says nothing about the deployment and counts as a success.
    """

    def __init__(
        self,
        inner: ChunkStream,
        dispatcher: Dispatcher,
        deployment: Deployment,
        permit: Permit,
        latency_ms: float,
    ) -> None:
        self._inner = inner
        self._dispatcher = dispatcher
        self._deployment = deployment
        self._permit = permit
        self._latency_ms = latency_ms
        self.complete = False

    async def __aiter__(self) -> AsyncIterator[ChatChunk]:
        ok = True
        try:
            async for chunk in self._inner:
                yield chunk
            self.complete = self._inner.complete
        except AlfredError:
            ok = False
            raise
        finally:
            await asyncio.shield(
                self._dispatcher.stream_ended(self._deployment, self._permit, self._latency_ms, ok)
            )

    async def aclose(self) -> None:
        await self._inner.aclose()
