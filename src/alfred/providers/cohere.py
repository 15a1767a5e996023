"""Cohere's v2 API (``/v2/chat``, ``/v2/embed``) ⇄ canonical.

v2 is close to OpenAI's chat schema (roles, OpenAI-shaped tools, ``tool_call_id``) but differs where
adapters trip: responses hold content as typed parts, the model's pre-tool reasoning arrives as
``tool_plan``, finish reasons are upper-case words, usage carries both ``billed_units`` and ``tokens``
(we bill from ``tokens``, what was processed), and the stream is typed events (``message-start`` …
``message-end``) instead of chunk deltas. Wire types follow cohere-ai/cohere-python's v2 models.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from msgspec import UNSET, Struct

from alfred.errors import AlfredError, InvalidRequestError, UpstreamError
from alfred.providers.base import Endpoint, UpstreamRequest, not_supported, now_s, upstream_error
from alfred.providers.sse import SSEEvent, SSEParser
from alfred.schema import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Choice,
    ChunkChoice,
    ContentPart,
    Delta,
    Embedding,
    EmbeddingRequest,
    EmbeddingResponse,
    EmbeddingUsage,
    FunctionCall,
    FunctionCallDelta,
    Message,
    ResponseMessage,
    ToolCall,
    ToolCallDelta,
    Usage,
)

_encoder = msgspec.json.Encoder()

# Cohere's finish reasons → OpenAI's. ERROR/TIMEOUT are failures: a stream raises on them.
FINISH_REASONS = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
    "ERROR": "error",
    "TIMEOUT": "error",
}


# -- wire types (only the fields we read; msgspec ignores the rest) ---------------------------------
class _Tokens(Struct):
    input_tokens: float | None = None
    output_tokens: float | None = None


class _Usage(Struct):
    billed_units: _Tokens | None = None
    tokens: _Tokens | None = None


class _Function(Struct):
    name: str = ""
    arguments: str = ""


class _ToolCall(Struct):
    id: str | None = None
    function: _Function = msgspec.field(default_factory=_Function)


class _Part(Struct):
    type: str = "text"
    text: str | None = None


class _Message(Struct):
    content: list[_Part] | None = None
    tool_calls: list[_ToolCall] | None = None
    tool_plan: str | None = None


class _Response(Struct):
    id: str = ""
    finish_reason: str | None = None
    message: _Message | None = None
    usage: _Usage | None = None


class _DeltaContent(Struct):
    type: str | None = None
    text: str | None = None


class _DeltaMessage(Struct):
    # message-start sends empty lists here; content/tool-call events send one object.
    content: _DeltaContent | list[Any] | None = None
    tool_calls: _ToolCall | list[Any] | None = None
    tool_plan: str | None = None


class _EventDelta(Struct):
    message: _DeltaMessage | None = None
    finish_reason: str | None = None
    usage: _Usage | None = None
    error: str | None = None


class _Event(Struct):
    type: str = ""
    id: str | None = None
    index: int | None = None
    delta: _EventDelta | None = None
    message: Any = None  # a bare error body ({"message": "..."}) instead of an event


class _EmbedVectors(Struct):
    float_: list[list[float]] | None = msgspec.field(default=None, name="float")


class _EmbedResponse(Struct):
    embeddings: _EmbedVectors
    meta: _Usage | None = None  # embed's meta has the same billed_units / tokens pair


_response_decoder = msgspec.json.Decoder(_Response)
_event_decoder = msgspec.json.Decoder(_Event)
_embed_decoder = msgspec.json.Decoder(_EmbedResponse)


class CohereAdapter:
    """Canonical ⇄ Cohere v2 chat and embed."""

    kind = "cohere"

    # -- requests ---------------------------------------------------------------------------
    def chat_request(self, request: ChatRequest, endpoint: Endpoint) -> UpstreamRequest:
        return UpstreamRequest(
            "POST",
            endpoint.base_url.rstrip("/") + "/v2/chat",
            _headers(endpoint, stream=request.stream),
            _encoder.encode(chat_body(request, endpoint)),
            stream=request.stream,
        )

    def embeddings_request(self, request: EmbeddingRequest, endpoint: Endpoint) -> UpstreamRequest:
        texts = request.texts()
        if not isinstance(request.input, str) and len(texts) != len(request.input):
            raise not_supported(self.kind, "token-id inputs to embeddings")
        body: dict[str, Any] = {
            "model": endpoint.model,
            "texts": texts,
            # OpenAI's API has no notion of query vs document; stored text is the common case.
            "input_type": "search_document",
            "embedding_types": ["float"],
        }
        if request.dimensions is not None:
            body["output_dimension"] = request.dimensions
        return UpstreamRequest(
            "POST", endpoint.base_url.rstrip("/") + "/v2/embed", _headers(endpoint), _encoder.encode(body)
        )

    # -- responses --------------------------------------------------------------------------
    def chat_response(self, body: bytes, endpoint: Endpoint) -> ChatResponse:
        try:
            data = _response_decoder.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise UpstreamError(f"{endpoint.provider}: malformed chat response ({exc})") from exc
        message = data.message or _Message()
        text = "".join(p.text or "" for p in message.content or () if p.type == "text")
        calls = [
            ToolCall(
                id=c.id or _tool_call_id(),
                function=FunctionCall(c.function.name, c.function.arguments or "{}"),
            )
            for c in message.tool_calls or ()
        ]
        if not text and calls and message.tool_plan:
            text = message.tool_plan  # the model's words before its calls: OpenAI puts them in content
        usage = _usage(data.usage)
        message_out = ResponseMessage(content=text or None, tool_calls=calls or UNSET)
        finish = finish_reason(data.finish_reason, has_tool_calls=bool(calls))
        return ChatResponse(
            id=data.id or f"chatcmpl-{uuid.uuid4().hex}",
            model=endpoint.model,
            created=now_s(),
            choices=[Choice(index=0, message=message_out, finish_reason=finish)],
            usage=usage if usage is not None else UNSET,
        )

    def chat_stream(self, endpoint: Endpoint) -> CohereStreamDecoder:
        return CohereStreamDecoder(endpoint)

    def embeddings_response(self, body: bytes, endpoint: Endpoint) -> EmbeddingResponse:
        try:
            data = _embed_decoder.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise UpstreamError(f"{endpoint.provider}: malformed embed response ({exc})") from exc
        vectors = data.embeddings.float_
        if vectors is None:
            raise UpstreamError(f"{endpoint.provider}: embed response has no float embeddings")
        usage = _usage(data.meta)
        tokens = usage.prompt_tokens if usage is not None else 0
        return EmbeddingResponse(
            data=[Embedding(index=i, embedding=vector) for i, vector in enumerate(vectors)],
            model=endpoint.model,
            usage=EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens),
        )

    def map_error(self, status: int, headers: dict[str, str], body: bytes) -> AlfredError:
        return upstream_error(
            status, cohere_error_message(body), provider=self.kind, retry_after=headers.get("retry-after")
        )


def _headers(endpoint: Endpoint, *, stream: bool = False) -> dict[str, str]:
    headers = {
        "content-type": "application/json",
        "accept": "text/event-stream" if stream else "application/json",
    }
    if endpoint.api_key:
        headers["authorization"] = f"Bearer {endpoint.api_key}"
    headers.update(endpoint.headers)
    return headers


def chat_body(request: ChatRequest, endpoint: Endpoint) -> dict[str, Any]:
    """The v2 request body for a canonical request."""
    if request.n is not None and request.n > 1:
        raise InvalidRequestError("provider kind 'cohere' returns one choice; 'n' must be 1", param="n")
    body: dict[str, Any] = {
        "model": endpoint.model,
        "messages": [_message(m, i) for i, m in enumerate(request.messages)],
        "stream": request.stream,
    }
    _add_tools(body, request)
    optional = {
        "max_tokens": request.output_limit(),
        "temperature": request.temperature,
        "p": request.top_p,
        "stop_sequences": request.stop_list() or None,
        "seed": request.seed,
        "frequency_penalty": request.frequency_penalty,
        "presence_penalty": request.presence_penalty,
        "response_format": _response_format(request.response_format),
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    return body


def _message(message: Message, index: int) -> dict[str, Any]:
    role = message.role
    if role in ("system", "developer"):
        return {"role": "system", "content": message.text()}
    if role == "user":
        return {"role": "user", "content": _user_content(message.content, index)}
    if role == "assistant":
        out: dict[str, Any] = {"role": "assistant"}
        text = message.text()
        if message.tool_calls:
            out["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.function.name, "arguments": call.function.arguments},
                }
                for call in message.tool_calls
            ]
            if text:
                out["tool_plan"] = text  # v2 keeps text beside tool calls as the plan
        else:
            out["content"] = text
        return out
    if role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id or "", "content": message.text()}
    raise InvalidRequestError(
        f"provider kind 'cohere' does not accept role {role!r}; send tool results with role 'tool'",
        param=f"messages[{index}].role",
    )


def _user_content(content: str | list[ContentPart] | None, index: int) -> str | list[dict[str, Any]]:
    if content is None or isinstance(content, str):
        return content or ""
    parts: list[dict[str, Any]] = []
    for part in content:
        if part.type == "text":
            parts.append({"type": "text", "text": part.text or ""})
        elif part.type == "image_url" and part.image_url is not None:
            # v2 takes web URLs and base64 data URIs as they are.
            image: dict[str, Any] = {"url": part.image_url.url}
            if part.image_url.detail:
                image["detail"] = part.image_url.detail
            parts.append({"type": "image_url", "image_url": image})
        else:
            raise InvalidRequestError(
                f"provider kind 'cohere' does not accept content parts of type {part.type!r}",
                param=f"messages[{index}].content",
            )
    return parts


def _add_tools(body: dict[str, Any], request: ChatRequest) -> None:
    tools = list(request.tools or ())
    if not tools:
        return
    choice = request.tool_choice
    if isinstance(choice, dict):
        # v2 cannot name a tool: offering only that one and requiring a call has the same effect.
        name = (choice.get("function") or {}).get("name")
        tools = [tool for tool in tools if tool.function.name == name]
        if not tools:
            raise InvalidRequestError(
                f"tool_choice names {name!r}, which is not in 'tools'", param="tool_choice"
            )
        body["tool_choice"] = "REQUIRED"
    elif choice == "required":
        body["tool_choice"] = "REQUIRED"
    elif choice == "none":
        body["tool_choice"] = "NONE"
    body["tools"] = [
        {
            "type": "function",
            "function": {
                "name": tool.function.name,
                **({"description": tool.function.description} if tool.function.description else {}),
                "parameters": tool.function.parameters or {"type": "object", "properties": {}},
            },
        }
        for tool in tools
    ]
    if any(tool.function.strict for tool in tools):
        body["strict_tools"] = True


def _response_format(fmt: dict[str, Any] | None) -> dict[str, Any] | None:
    if not fmt or fmt.get("type") in (None, "text"):
        return None
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    if fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        return {"type": "json_object", **({"json_schema": schema} if schema else {})}
    raise InvalidRequestError(f"unknown response_format type {fmt.get('type')!r}", param="response_format")


def finish_reason(raw: str | None, *, has_tool_calls: bool) -> str:
    """OpenAI's finish reason for Cohere's; a turn that called tools ends in ``tool_calls``."""
    mapped = FINISH_REASONS.get(raw or "COMPLETE", (raw or "stop").lower())
    if has_tool_calls and mapped == "stop":
        return "tool_calls"  # older models end tool turns with COMPLETE
    return mapped


def _usage(raw: _Usage | None) -> Usage | None:
    if raw is None:
        return None
    # ``tokens`` is what the model processed; ``billed_units`` can be lower (free prompt templates).
    counted = raw.tokens or raw.billed_units
    if counted is None:
        return None
    prompt, completion = int(counted.input_tokens or 0), int(counted.output_tokens or 0)
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def _tool_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def cohere_error_message(body: bytes) -> str:
    """The message of a Cohere error body (``{"id": ..., "message": ...}``), or short text."""
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body[:500].decode("utf-8", errors="replace").strip()
    if isinstance(data, dict):
        for key in ("message", "error", "detail"):
            if isinstance(data.get(key), str):
                return str(data[key])
    return body[:500].decode("utf-8", errors="replace").strip()


class CohereStreamDecoder:
    """Cohere v2 SSE events → canonical chunks; ``message-end`` is the provider's end marker."""

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self._sse = SSEParser()
        self._id = ""
        self._created = now_s()
        self._role_sent = False
        self._tools: dict[int, int] = {}  # Cohere's tool-call event index → canonical index
        self._current_tool = -1
        self._thinking: set[int] = set()  # content blocks holding reasoning, not answer text
        self.finished = False

    def feed(self, data: bytes) -> list[ChatChunk]:
        return self._decode(self._sse.feed(data))

    def close(self) -> list[ChatChunk]:
        return self._decode(self._sse.flush())

    def _decode(self, events: list[SSEEvent]) -> list[ChatChunk]:
        out: list[ChatChunk] = []
        for event in events:
            data = event.data.strip()
            if not data or data == "[DONE]" or self.finished:
                continue
            try:
                raw = _event_decoder.decode(data)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise UpstreamError(f"{self._endpoint.provider}: malformed stream event ({exc})") from exc
            out.extend(self._event(raw, raw.type or event.event))
        return out

    def _event(self, event: _Event, kind: str) -> list[ChatChunk]:
        delta = event.delta or _EventDelta()
        message = delta.message or _DeltaMessage()
        if kind == "message-start":
            self._id = event.id or self._id
            return [self._chunk(Delta(content=""))]
        if kind in ("content-start", "content-delta"):
            content = message.content if isinstance(message.content, _DeltaContent) else None
            index = event.index or 0
            if kind == "content-start" and content is not None and content.type == "thinking":
                self._thinking.add(index)
            if content is None or not content.text or index in self._thinking:
                return []
            return [self._chunk(Delta(content=content.text))]
        if kind == "tool-plan-delta":
            return [self._chunk(Delta(content=message.tool_plan))] if message.tool_plan else []
        if kind == "tool-call-start":
            return [self._tool_start(event, message)]
        if kind == "tool-call-delta":
            return self._tool_delta(event, message)
        if kind == "message-end":
            return self._end(delta)
        if isinstance(event.message, str) and (kind == "error" or not event.type):
            raise UpstreamError(f"{self._endpoint.provider}: {event.message}", retryable=False)
        return []  # content-end, tool-call-end, citation-*, debug: nothing for the client

    def _tool_start(self, event: _Event, message: _DeltaMessage) -> ChatChunk:
        call = message.tool_calls if isinstance(message.tool_calls, _ToolCall) else _ToolCall()
        canonical = len(self._tools)
        self._tools[event.index if event.index is not None else canonical] = canonical
        self._current_tool = canonical
        function = FunctionCallDelta(name=call.function.name, arguments=call.function.arguments)
        first = ToolCallDelta(
            index=canonical, id=call.id or _tool_call_id(), type="function", function=function
        )
        return self._chunk(Delta(tool_calls=[first]))

    def _tool_delta(self, event: _Event, message: _DeltaMessage) -> list[ChatChunk]:
        call = message.tool_calls
        fragment = call.function.arguments if isinstance(call, _ToolCall) else ""
        if not fragment:
            return []
        # Older streams give tool events no index: fragments belong to the call last started.
        canonical = self._current_tool if event.index is None else self._tools.get(event.index, -1)
        if canonical < 0:
            raise UpstreamError(f"{self._endpoint.provider}: tool-call-delta before its tool-call-start")
        more = ToolCallDelta(index=canonical, function=FunctionCallDelta(arguments=fragment))
        return [self._chunk(Delta(tool_calls=[more]))]

    def _end(self, delta: _EventDelta) -> list[ChatChunk]:
        if delta.error or FINISH_REASONS.get(delta.finish_reason or "") == "error":
            reason = delta.error or f"generation ended with {delta.finish_reason}"
            raise UpstreamError(f"{self._endpoint.provider}: {reason}", retryable=False)
        self.finished = True
        out = [self._chunk(Delta(), finish_reason(delta.finish_reason, has_tool_calls=bool(self._tools)))]
        usage = _usage(delta.usage)
        if usage is not None:
            out.append(
                ChatChunk(
                    id=self._id, model=self._endpoint.model, created=self._created, choices=[], usage=usage
                )
            )
        return out

    def _chunk(self, delta: Delta, finish: str | None = None) -> ChatChunk:
        if not self._role_sent:
            delta.role = "assistant"
            self._role_sent = True
        return ChatChunk(
            id=self._id,
            model=self._endpoint.model,
            created=self._created,
            choices=[ChunkChoice(index=0, delta=delta, finish_reason=finish)],
        )
