"""OpenAI's API surface: /v1/chat/completions (JSON and SSE), /v1/embeddings, /v1/models."""

from __future__ import annotations

import base64
import struct
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from alfred.api.calls import alfred_headers, client_ip, finish
from alfred.api.errors import error_body, send_error
from alfred.api.http import (
    SSE_HEADERS,
    Receive,
    Scope,
    Send,
    encode_headers,
    read_body,
    request_headers,
    send_bytes,
    send_stream,
)
from alfred.api.middleware.request_id import request_id_of
from alfred.api.parsing import parse_chat_request, parse_embedding_request
from alfred.config import ServerSettings
from alfred.errors import AlfredError, InvalidRequestError, ModelNotFoundError
from alfred.pipeline import Call, Pipeline
from alfred.providers.stream import ChunkStream
from alfred.routing.catalog import ModelCatalog
from alfred.schema import ChatChunk, ChatRequest, ChatResponse, EmbeddingResponse

_encoder = msgspec.json.Encoder()
DONE_FRAME = b"data: [DONE]\n\n"


class ChatCompletionsEndpoint:
    """POST /v1/chat/completions."""

    def __init__(self, pipeline: Pipeline, limits: ServerSettings) -> None:
        self._pipeline = pipeline
        self._limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = request_id_of(scope) or ""
        headers = request_headers(scope)
        call: Call | None = None
        try:
            body = await read_body(receive, headers, self._limits.max_body_bytes)
            request = parse_chat_request(body, self._limits)
            call = Call(request_id, "chat", request, headers, client_ip(scope))
            result = await self._pipeline.run(call)
        except AlfredError as exc:
            if call is not None:
                call.outcome, call.error = "error", exc
                await finish(call, scope)
            extra = {**(alfred_headers(call) if call else {}), **exc.headers}
            exc.headers = extra
            await send_error(send, exc, request_id)
            return
        if isinstance(result, ChatResponse):
            try:
                await send_bytes(send, 200, _encoder.encode(result), extra=alfred_headers(call))
            finally:
                await finish(call, scope)
            return
        assert isinstance(request, ChatRequest) and not isinstance(result, EmbeddingResponse)
        response_headers = [*SSE_HEADERS, *encode_headers(alfred_headers(call))]
        try:
            await send_stream(send, receive, 200, response_headers, sse_frames(result, call, request))
        finally:
            await finish(call, scope)


async def sse_frames(stream: ChunkStream, call: Call, request: ChatRequest) -> AsyncIterator[bytes]:
    """Canonical chunks → OpenAI SSE frames; a failure after the first byte becomes an error frame."""
    include_usage = request.wants_usage_in_stream()
    fallback_id = f"chatcmpl-{call.request_id}"
    last: ChatChunk | None = None
    try:
        async for chunk in stream:
            if not chunk.choices:
                continue  # usage-only chunks: usage is sent once, last, from the metered total
            if not chunk.id:
                chunk.id = fallback_id
            last = chunk
            chunk.usage = None if include_usage else msgspec.UNSET
            yield b"data: " + _encoder.encode(chunk) + b"\n\n"
    except AlfredError as exc:
        yield b"data: " + error_body(exc, call.request_id) + b"\n\n"
        return
    if include_usage and call.usage is not None:
        final = ChatChunk(
            id=last.id if last else fallback_id,
            model=last.model if last else (call.upstream_model or request.model),
            created=last.created if last else 0,
            choices=[],
            usage=call.usage,
        )
        yield b"data: " + _encoder.encode(final) + b"\n\n"
    yield DONE_FRAME


class EmbeddingsEndpoint:
    """POST /v1/embeddings; honours ``encoding_format: base64`` (the OpenAI SDK's default)."""

    def __init__(self, pipeline: Pipeline, limits: ServerSettings) -> None:
        self._pipeline = pipeline
        self._limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = request_id_of(scope) or ""
        headers = request_headers(scope)
        call: Call | None = None
        try:
            body = await read_body(receive, headers, self._limits.max_body_bytes)
            request = parse_embedding_request(body)
            call = Call(request_id, "embeddings", request, headers, client_ip(scope))
            result = await self._pipeline.run(call)
            if not isinstance(result, EmbeddingResponse):
                raise InvalidRequestError("model did not return embeddings", param="model")
        except AlfredError as exc:
            if call is not None:
                call.outcome, call.error = "error", exc
                await finish(call, scope)
            await send_error(send, exc, request_id)
            return
        try:
            payload: Any = result
            if request.encoding_format == "base64":
                payload = msgspec.to_builtins(result)
                for item in payload["data"]:
                    vector = item["embedding"]
                    if isinstance(vector, list):
                        item["embedding"] = base64.b64encode(
                            struct.pack(f"<{len(vector)}f", *vector)
                        ).decode()
            await send_bytes(send, 200, _encoder.encode(payload), extra=alfred_headers(call))
        finally:
            await finish(call, scope)


class ModelsEndpoint:
    """GET /v1/models and GET /v1/models/{id}."""

    def __init__(self, catalog: ModelCatalog) -> None:
        self._catalog = catalog

    def _model(self, name: str) -> dict[str, Any]:
        group = self._catalog.get(name)
        kinds = sorted({d.endpoint.kind for d in group.deployments})
        entry: dict[str, Any] = {
            "id": group.name,
            "object": "model",
            "created": 0,
            "owned_by": "alfred-demo" if group.demo else ",".join(kinds),
            "alfred": {"kind": group.kind, "demo": group.demo, "providers": kinds},
        }
        if group.description:
            entry["alfred"]["description"] = group.description
        return entry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = request_id_of(scope)
        path: str = scope["path"]
        prefix = "/v1/models/"
        try:
            if path.startswith(prefix) and len(path) > len(prefix):
                body = _encoder.encode(self._model(path[len(prefix) :]))
            else:
                data = [self._model(group.name) for group in self._catalog.groups()]
                body = _encoder.encode({"object": "list", "data": data})
        except ModelNotFoundError as exc:
            await send_error(send, exc, request_id)
            return
        await send_bytes(send, 200, body)
