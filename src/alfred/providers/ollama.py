"""Ollama's native API (``/api/chat``, ``/api/embed``) ⇄ canonical.

The traps (ollama/ollama docs/api.md, api/types.go): the chat endpoint streams NDJSON unless the
body says ``"stream": false``, so we always say which; sampling settings live under ``options``
(``num_predict`` is the token cap); tool-call arguments are JSON objects, not strings, and older
servers give calls no id; ``done_reason`` stays ``stop`` on a tool-call turn; the usage counts are
``prompt_eval_count`` / ``eval_count`` and are left out when zero (a cached prompt has none). Wire types
are in ``ollama_wire``, the stream decoder in ``ollama_stream``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import msgspec
from msgspec import UNSET

from alfred.errors import AlfredError, InvalidRequestError, UpstreamError
from alfred.providers.base import (
    Endpoint,
    UpstreamRequest,
    new_tool_call_id,
    not_supported,
    upstream_error,
)
from alfred.providers.ollama_stream import OllamaStreamDecoder
from alfred.providers.ollama_wire import (
    WireMessage,
    arguments_text,
    created_at_s,
    decode_chat,
    embed_decoder,
    finish_reason,
    ollama_error_message,
    usage_of,
)
from alfred.schema import (
    ChatRequest,
    ChatResponse,
    Choice,
    Embedding,
    EmbeddingRequest,
    EmbeddingResponse,
    EmbeddingUsage,
    FunctionCall,
    Message,
    ResponseMessage,
    ToolCall,
)

_encoder = msgspec.json.Encoder()


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
        data = decode_chat(body, endpoint)
        if data.error:
            raise UpstreamError(f"{endpoint.provider}: {data.error}")
        message = data.message or WireMessage()
        calls = [
            ToolCall(
                id=call.id or new_tool_call_id(),
                function=FunctionCall(call.function.name, arguments_text(call)),
            )
            for call in message.tool_calls or ()
        ]
        usage = usage_of(data)
        return ChatResponse(
            id=f"chatcmpl-{uuid.uuid4().hex}",  # Ollama gives responses no id
            model=data.model or endpoint.model,
            created=created_at_s(data.created_at),
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
            data = embed_decoder.decode(body)
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
