"""Cohere's v2 API (``/v2/chat``, ``/v2/embed``) ⇄ canonical.

v2 is close to OpenAI's chat schema (roles, OpenAI-shaped tools, ``tool_call_id``) but differs where
adapters trip: responses hold content as typed parts, the model's pre-tool reasoning arrives as
``tool_plan``, finish reasons are upper-case words, usage carries both ``billed_units`` and ``tokens``
(we bill from ``tokens``, what was processed), and the stream is typed events (``message-start`` …
``message-end``) instead of chunk deltas. Wire types (``cohere_wire``) follow cohere-ai/cohere-python's
v2 models; the stream decoder is ``cohere_stream``.
"""

from __future__ import annotations

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
    now_s,
    upstream_error,
)
from alfred.providers.cohere_stream import CohereStreamDecoder
from alfred.providers.cohere_wire import (
    WireMessage,
    cohere_error_message,
    embed_decoder,
    finish_reason,
    response_decoder,
    usage_of,
)
from alfred.schema import (
    ChatRequest,
    ChatResponse,
    Choice,
    ContentPart,
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
            data = response_decoder.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise UpstreamError(f"{endpoint.provider}: malformed chat response ({exc})") from exc
        message = data.message or WireMessage()
        text = "".join(p.text or "" for p in message.content or () if p.type == "text")
        calls = [
            ToolCall(
                id=c.id or new_tool_call_id(),
                function=FunctionCall(c.function.name, c.function.arguments or "{}"),
            )
            for c in message.tool_calls or ()
        ]
        if not text and calls and message.tool_plan:
            text = message.tool_plan  # the model's words before its calls: OpenAI puts them in content
        usage = usage_of(data.usage)
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
            data = embed_decoder.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise UpstreamError(f"{endpoint.provider}: malformed embed response ({exc})") from exc
        vectors = data.embeddings.float_
        if vectors is None:
            raise UpstreamError(f"{endpoint.provider}: embed response has no float embeddings")
        usage = usage_of(data.meta)
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
