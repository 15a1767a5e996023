"""Anthropic's API surface: POST /v1/messages (JSON and SSE), in front of every model Alfred serves.

The request is translated to the canonical form and runs through the same pipeline as
/v1/chat/completions; only the edges differ: ``anthropic_wire.py`` (request),
``anthropic_message.py`` (response, errors), ``anthropic_stream.py`` (SSE).
``x-api-key`` and ``anthropic-version`` arrive with the other headers on the Call; nothing here
enforces them.
"""

from __future__ import annotations

import msgspec

from alfred.api.anthropic_message import message_from_response, messages_error_body
from alfred.api.anthropic_stream import message_events
from alfred.api.anthropic_wire import parse_messages_request
from alfred.api.calls import alfred_headers, client_ip, finish
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
from alfred.config import ServerSettings
from alfred.errors import AlfredError, InvalidRequestError
from alfred.pipeline import Call, Pipeline
from alfred.schema import ChatRequest, ChatResponse, EmbeddingResponse

_encoder = msgspec.json.Encoder()


class MessagesEndpoint:
    """POST /v1/messages."""

    def __init__(self, pipeline: Pipeline, limits: ServerSettings) -> None:
        self._pipeline = pipeline
        self._limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = request_id_of(scope) or ""
        headers = request_headers(scope)
        call: Call | None = None
        try:
            body = await read_body(receive, headers, self._limits.max_body_bytes)
            request = parse_messages_request(body, self._limits)
            call = Call(request_id, "messages", request, headers, client_ip(scope))
            result = await self._pipeline.run(call)
            if isinstance(result, EmbeddingResponse):
                raise InvalidRequestError("model did not return a chat response", param="model")
        except AlfredError as exc:
            if call is not None:
                call.outcome, call.error = "error", exc
                await finish(call, scope)
            extra = {
                **(alfred_headers(call) if call else {}),
                **exc.headers,
                **_request_id_header(request_id),
            }
            await send_bytes(send, exc.status, messages_error_body(exc, request_id), extra=extra)
            return
        response_headers = {**alfred_headers(call), **_request_id_header(request_id)}
        if isinstance(result, ChatResponse):
            try:
                message = message_from_response(result, call.usage, f"msg_{request_id}")
            except AlfredError as exc:
                call.outcome, call.error = "error", exc
                await finish(call, scope)
                await send_bytes(
                    send, exc.status, messages_error_body(exc, request_id), extra=response_headers
                )
                return
            try:
                await send_bytes(send, 200, _encoder.encode(message), extra=response_headers)
            finally:
                await finish(call, scope)
            return
        assert isinstance(request, ChatRequest)
        sse_headers = [*SSE_HEADERS, *encode_headers(response_headers)]
        try:
            await send_stream(send, receive, 200, sse_headers, message_events(result, call, request))
        finally:
            await finish(call, scope)


def _request_id_header(request_id: str) -> dict[str, str]:
    # Anthropic's API names its request id header ``request-id``; its SDK reads it from there.
    return {"request-id": request_id} if request_id else {}
