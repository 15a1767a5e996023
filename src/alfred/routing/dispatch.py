"""The pipeline's handler: sends a call to the deployments the router plans, retrying before first byte."""

from __future__ import annotations

import asyncio
import random
import time

from alfred.errors import AlfredError, InvalidRequestError
from alfred.pipeline.call import Call, Result
from alfred.providers.transport import HttpTransport
from alfred.providers.upstream_stream import UpstreamChunkStream
from alfred.routing.catalog import Deployment
from alfred.routing.router import Router
from alfred.schema import ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse


class Dispatcher:
    """Routes a call and performs the upstream attempts (retries go to the next deployment)."""

    def __init__(
        self,
        router: Router,
        transport: HttpTransport,
        *,
        retries: int = 2,
        backoff_s: float = 0.05,
        rng: random.Random | None = None,
    ) -> None:
        self._router = router
        self._transport = transport
        self._retries = retries
        self._backoff_s = backoff_s
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security

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
        plan = self._router.plan(call, group)
        last: AlfredError | None = None
        for attempt, deployment in enumerate(plan[: self._retries + 1]):
            if attempt:
                await asyncio.sleep(self._backoff_s * (2 ** (attempt - 1)) * (0.5 + self._rng.random()))
            call.attempts = attempt + 1
            call.provider = deployment.endpoint.provider
            call.provider_kind = deployment.endpoint.kind
            call.upstream_model = deployment.endpoint.model
            try:
                return await self._attempt(call, deployment)
            except AlfredError as exc:
                if not exc.retryable:
                    raise
                last = exc
        assert last is not None
        raise last

    async def _attempt(self, call: Call, deployment: Deployment) -> Result:
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
