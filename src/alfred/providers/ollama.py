"""Ollama's native API (``/api/chat``, ``/api/embed``) ⇄ canonical.

The traps (ollama/ollama docs/api.md, api/types.go): the chat endpoint streams NDJSON unless the
body says ``"stream": false``, so we always say which; sampling settings live under ``options``
(``num_predict`` is the token cap); tool-call arguments are JSON objects, not strings, and older
servers give calls no id; ``done_reason`` stays ``stop`` on a tool-call turn; the usage counts are
``prompt_eval_count`` / ``eval_count`` and are left out when zero (a cached prompt has none).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import msgspec
from msgspec import UNSET, Struct

from alfred.errors import AlfredError, InvalidRequestError, UpstreamError
from alfred.providers.base import Endpoint, UpstreamRequest, not_supported, now_s, upstream_error
from alfred.providers.sse import NDJSONSplitter
from alfred.schema import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Choice,
    ChunkChoice,
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


# -- wire types (only the fields we read; msgspec ignores the rest) ---------------------------------
class _Function(Struct):
    name: str = ""
    arguments: dict[str, Any] | str | None = None


class _ToolCall(Struct):
    function: _Function
    id: str | None = None


class _Message(Struct):
    content: str = ""
    tool_calls: list[_ToolCall] | None = None


class _Chat(Struct):
    """One /api/chat response object: the whole answer, or one NDJSON line of a stream."""

    model: str = ""
    created_at: str | None = None
    message: _Message | None = None
    done: bool = False
    done_reason: str | None = None
    prompt_eval_count: int | None = None
    eval_count: int | None = None
    error: str | None = None


class _Embed(Struct):
    embeddings: list[list[float]]
    prompt_eval_count: int | None = None


_chat_decoder = msgspec.json.Decoder(_Chat)
_embed_decoder = msgspec.json.Decoder(_Embed)


class OllamaAdapter:
    """Canonical ⇄ Ollama's native chat and embed API."""

    kind = "ollama"

    # -- requests ---------------------------------------------------------------------------
    def chat_request(self, request: ChatRequest, endpoint: Endpoint) -> UpstreamRequest:
        return UpstreamRequest(
            "POST",
            endpoint.base_url.rstrip("/") + "/api/chat",
            _headers(endpoint),
            _encoder.encode(chat_body(request, endpoint)),
            stream=request.stream,
        )

    def embeddings_request(self, request: EmbeddingRequest, endpoint: Endpoint) -> UpstreamRequest:
        texts = request.texts()
        if not isinstance(request.input, str) and len(texts) != len(request.input):
            raise not_supported(self.kind, "token-id inputs to embeddings")
        body: dict[str, Any] = {"model": endpoint.model, "input": texts}
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        return UpstreamRequest(
            "POST", endpoint.base_url.rstrip("/") + "/api/embed", _headers(endpoint), _encoder.encode(body)
        )

    # -- responses --------------------------------------------------------------------------
    def chat_response(self, body: bytes, endpoint: Endpoint) -> ChatResponse:
        data = _decode_chat(body, endpoint)
        if data.error:
            raise UpstreamError(f"{endpoint.provider}: {data.error}")
        message = data.message or _Message()
        calls = [
            ToolCall(
                id=call.id or _tool_call_id(), function=FunctionCall(call.function.name, _arguments(call))
            )
            for call in message.tool_calls or ()
        ]
        usage = _usage(data)
        return ChatResponse(
            id=f"chatcmpl-{uuid.uuid4().hex}",  # Ollama gives responses no id
            model=data.model or endpoint.model,
            created=_created(data.created_at),
            choices=[
                Choice(
                    index=0,
                    message=ResponseMessage(content=message.content or None, tool_calls=calls or UNSET),
                    finish_reason=finish_reason(data.done_reason, has_tool_calls=bool(calls)),
                )
            ],
            usage=usage if usage is not None else UNSET,
        )

    def chat_stream(self, endpoint: Endpoint) -> OllamaStreamDecoder:
        return OllamaStreamDecoder(endpoint)

    def embeddings_response(self, body: bytes, endpoint: Endpoint) -> EmbeddingResponse:
        try:
            data = _embed_decoder.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise UpstreamError(f"{endpoint.provider}: malformed embed response ({exc})") from exc
        tokens = data.prompt_eval_count or 0
        return EmbeddingResponse(
            data=[Embedding(index=i, embedding=vector) for i, vector in enumerate(data.embeddings)],
            model=endpoint.model,
            usage=EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens),
        )

    def map_error(self, status: int, headers: dict[str, str], body: bytes) -> AlfredError:
        return upstream_error(
            status, ollama_error_message(body), provider=self.kind, retry_after=headers.get("retry-after")
        )


def _headers(endpoint: Endpoint) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if endpoint.api_key:  # a local server needs none; ollama.com and proxies in front want a bearer key
        headers["authorization"] = f"Bearer {endpoint.api_key}"
    headers.update(endpoint.headers)
    return headers


def chat_body(request: ChatRequest, endpoint: Endpoint) -> dict[str, Any]:
    """The /api/chat body for a canonical request."""
    if request.n is not None and request.n > 1:
        raise InvalidRequestError("provider kind 'ollama' returns one choice; 'n' must be 1", param="n")
    body: dict[str, Any] = {
        "model": endpoint.model,
        "messages": _messages(request.messages),
        "stream": request.stream,  # always explicit: an absent "stream" means NDJSON streaming
    }
    options = {
        "temperature": request.temperature,
        "top_p": request.top_p,
        "num_predict": request.output_limit(),
        "stop": request.stop_list() or None,
        "seed": request.seed,
        "presence_penalty": request.presence_penalty,
        "frequency_penalty": request.frequency_penalty,
    }
    options = {key: value for key, value in options.items() if value is not None}
    if options:
        body["options"] = options
    tools = _tools(request)
    if tools:
        body["tools"] = tools
    fmt = _format(request.response_format)
    if fmt is not None:
        body["format"] = fmt
    return body


def _messages(messages: list[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id → function name, for the results that answer them
    for index, message in enumerate(messages):
        role = message.role
        if role in ("system", "developer"):
            out.append({"role": "system", "content": message.text()})
        elif role == "user":
            entry: dict[str, Any] = {"role": "user", "content": message.text()}
            images = _images(message, index)
            if images:
                entry["images"] = images
            out.append(entry)
        elif role == "assistant":
            entry = {"role": "assistant", "content": message.text()}
            if message.tool_calls:
                entry["tool_calls"] = []
                for number, call in enumerate(message.tool_calls):
                    names[call.id] = call.function.name
                    arguments = _arguments_object(
                        call.function.arguments, f"messages[{index}].tool_calls[{number}]"
                    )
                    entry["tool_calls"].append(
                        {"id": call.id, "function": {"name": call.function.name, "arguments": arguments}}
                    )
            out.append(entry)
        elif role == "tool":
            entry = {"role": "tool", "content": message.text(), "tool_call_id": message.tool_call_id or ""}
            name = names.get(message.tool_call_id or "")
            if name:
                entry["tool_name"] = name  # what older servers match results by
            out.append(entry)
        else:
            raise InvalidRequestError(
                f"provider kind 'ollama' does not accept role {role!r}; send tool results with role 'tool'",
                param=f"messages[{index}].role",
            )
    return out


def _images(message: Message, index: int) -> list[str]:
    if not isinstance(message.content, list):
        return []
    images = []
    for part in message.content:
        if part.type == "text":
            continue
        if part.type != "image_url" or part.image_url is None:
            raise InvalidRequestError(
                f"provider kind 'ollama' does not accept content parts of type {part.type!r}",
                param=f"messages[{index}].content",
            )
        url = part.image_url.url
        header, sep, data = url.partition(",")
        if not (url.startswith("data:") and sep and header.endswith(";base64")):
            # The server does not fetch URLs, and an adapter does no I/O: the caller must inline it.
            raise InvalidRequestError(
                "provider kind 'ollama' takes inline images only; send a base64 data: URL",
                param=f"messages[{index}].content",
            )
        images.append(data)
    return images


def _arguments_object(arguments: str, where: str) -> dict[str, Any]:
    if not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise InvalidRequestError(f"{where}.function.arguments must be a JSON object", param=where)
    return value


def _tools(request: ChatRequest) -> list[dict[str, Any]]:
    tools = list(request.tools or ())
    choice = request.tool_choice
    # The native API has no tool_choice: "none" offers no tools, a named tool is offered alone;
    # "required" cannot be enforced and behaves as "auto".
    if choice == "none":
        return []
    if isinstance(choice, dict) and tools:
        name = (choice.get("function") or {}).get("name")
        tools = [tool for tool in tools if tool.function.name == name]
        if not tools:
            raise InvalidRequestError(
                f"tool_choice names {name!r}, which is not in 'tools'", param="tool_choice"
            )
    out = []
    for tool in tools:
        function = msgspec.to_builtins(tool.function)
        function.pop("strict", None)  # OpenAI-only
        out.append({"type": "function", "function": function})
    return out


def _format(fmt: dict[str, Any] | None) -> str | dict[str, Any] | None:
    if not fmt or fmt.get("type") in (None, "text"):
        return None
    if fmt.get("type") == "json_object":
        return "json"
    if fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        return schema if isinstance(schema, dict) else "json"
    raise InvalidRequestError(f"unknown response_format type {fmt.get('type')!r}", param="response_format")


def finish_reason(raw: str | None, *, has_tool_calls: bool) -> str:
    """OpenAI's finish reason for Ollama's ``done_reason`` (which says ``stop`` after tool calls)."""
    if raw == "length":
        return "length"
    return "tool_calls" if has_tool_calls else "stop"


def _arguments(call: _ToolCall) -> str:
    arguments = call.function.arguments
    if isinstance(arguments, str):  # some proxies in front of Ollama re-encode them
        return arguments or "{}"
    return _encoder.encode(arguments or {}).decode()


def _usage(data: _Chat) -> Usage | None:
    if data.prompt_eval_count is None and data.eval_count is None:
        return None
    prompt, completion = data.prompt_eval_count or 0, data.eval_count or 0
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def _created(created_at: str | None) -> int:
    if created_at:
        try:
            return int(datetime.fromisoformat(created_at).timestamp())
        except ValueError:
            pass
    return now_s()


def _decode_chat(body: bytes, endpoint: Endpoint) -> _Chat:
    try:
        return _chat_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise UpstreamError(f"{endpoint.provider}: malformed chat response ({exc})") from exc


def _tool_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def ollama_error_message(body: bytes) -> str:
    """The message of an Ollama error body (``{"error": "..."}``), or short text."""
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body[:500].decode("utf-8", errors="replace").strip()
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, str):
            return error
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    return body[:500].decode("utf-8", errors="replace").strip()


class OllamaStreamDecoder:
    """Ollama's NDJSON stream → canonical chunks; the line with ``"done": true`` ends it."""

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self._lines = NDJSONSplitter()
        self._id = f"chatcmpl-{uuid.uuid4().hex}"
        self._model = ""
        self._created = 0
        self._role_sent = False
        self._tool_count = 0
        self.finished = False

    def feed(self, data: bytes) -> list[ChatChunk]:
        return self._decode(self._lines.feed(data))

    def close(self) -> list[ChatChunk]:
        return self._decode(self._lines.flush())

    def _decode(self, lines: list[bytes]) -> list[ChatChunk]:
        out: list[ChatChunk] = []
        for line in lines:
            if self.finished:
                break
            data = _decode_chat(line, self._endpoint)
            if data.error:
                raise UpstreamError(f"{self._endpoint.provider}: {data.error}", retryable=False)
            out.extend(self._line(data))
        return out

    def _line(self, data: _Chat) -> list[ChatChunk]:
        if not self._created:
            self._model = data.model or self._endpoint.model
            self._created = _created(data.created_at)
        message = data.message or _Message()
        out: list[ChatChunk] = []
        delta = Delta(content=message.content or None)
        if message.tool_calls:
            delta.tool_calls = []
            for call in message.tool_calls:
                # Each call arrives whole, so its first (and only) fragment carries id, name and arguments.
                delta.tool_calls.append(
                    ToolCallDelta(
                        index=self._tool_count,
                        id=call.id or _tool_call_id(),
                        type="function",
                        function=FunctionCallDelta(name=call.function.name, arguments=_arguments(call)),
                    )
                )
                self._tool_count += 1
        if delta.content or delta.tool_calls:
            out.append(self._chunk(delta))
        elif not self._role_sent and not data.done:
            out.append(self._chunk(Delta(content="")))  # an empty first line still opens the message
        if data.done:
            self.finished = True
            finish = finish_reason(data.done_reason, has_tool_calls=self._tool_count > 0)
            out.append(self._chunk(Delta(), finish))
            usage = _usage(data)
            if usage is not None:
                out.append(
                    ChatChunk(id=self._id, model=self._model, created=self._created, choices=[], usage=usage)
                )
        return out

    def _chunk(self, delta: Delta, finish: str | None = None) -> ChatChunk:
        if not self._role_sent:
            delta.role = "assistant"
            self._role_sent = True
        return ChatChunk(
            id=self._id,
            model=self._model,
            created=self._created,
            choices=[ChunkChoice(index=0, delta=delta, finish_reason=finish)],
        )
