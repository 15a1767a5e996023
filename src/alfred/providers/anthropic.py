"""Canonical ⇄ Anthropic's Messages API (``POST /v1/messages``).

Where the two schemas differ: system prompts are a top-level field, ``max_tokens`` is required,
turns alternate strictly (consecutive same-role messages are merged), tool calls and tool results
are content blocks (``tool_use`` in the assistant turn, ``tool_result`` in the next user turn),
images are ``image`` blocks with a base64 or URL source. The response side lives in
``anthropic_stream.py``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import msgspec

from alfred.errors import AlfredError, InvalidRequestError, UpstreamError
from alfred.providers.anthropic_stream import (
    AnthropicStreamDecoder,
    WireMessage,
    finish_reason,
)
from alfred.providers.base import Endpoint, UpstreamRequest, not_supported, now_s, upstream_error
from alfred.schema import (
    ChatRequest,
    ChatResponse,
    Choice,
    ContentPart,
    EmbeddingRequest,
    EmbeddingResponse,
    FunctionCall,
    Message,
    ResponseMessage,
    ToolCall,
)

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096  # Anthropic requires max_tokens; OpenAI callers often leave it out
# Anthropic has no JSON mode without a schema; an instruction is its documented substitute.
JSON_OBJECT_INSTRUCTION = "Respond with a single valid JSON object and nothing else."

_encoder = msgspec.json.Encoder()
_message_decoder = msgspec.json.Decoder(WireMessage)

Block = dict[str, Any]


class AnthropicAdapter:
    """Canonical ⇄ Anthropic Messages API; Anthropic has no embeddings endpoint."""

    kind = "anthropic"

    # -- requests ---------------------------------------------------------------------------
    def chat_request(self, request: ChatRequest, endpoint: Endpoint) -> UpstreamRequest:
        return UpstreamRequest(
            "POST",
            endpoint.base_url.rstrip("/") + "/v1/messages",
            self._headers(endpoint),
            _encoder.encode(chat_body(request, endpoint)),
            stream=request.stream,
        )

    def _headers(self, endpoint: Endpoint) -> dict[str, str]:
        headers = {
            "content-type": "application/json",
            "anthropic-version": endpoint.api_version or API_VERSION,
        }
        if endpoint.api_key:
            headers["x-api-key"] = endpoint.api_key
        headers.update(endpoint.headers)  # e.g. anthropic-beta
        return headers

    def embeddings_request(self, request: EmbeddingRequest, endpoint: Endpoint) -> UpstreamRequest:
        raise not_supported(self.kind, "embeddings")

    # -- responses --------------------------------------------------------------------------
    def chat_response(self, body: bytes, endpoint: Endpoint) -> ChatResponse:
        try:
            wire = _message_decoder.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise UpstreamError(f"{endpoint.provider}: malformed messages response ({exc})") from exc
        texts: list[str] = []
        calls: list[ToolCall] = []
        for block in wire.content:
            if block.type == "text":
                texts.append(block.text or "")
            elif block.type == "tool_use":
                arguments = _encoder.encode(block.input if block.input is not None else {}).decode()
                calls.append(
                    ToolCall(
                        id=block.id or f"toolu_{len(calls)}",
                        function=FunctionCall(block.name or "", arguments),
                    )
                )
        message = ResponseMessage(content="".join(texts) if texts else None)
        if calls:
            message.tool_calls = calls
        response = ChatResponse(
            id=wire.id or f"msg_{uuid.uuid4().hex}",
            model=wire.model or endpoint.model,
            created=now_s(),
            choices=[
                Choice(index=0, message=message, finish_reason=finish_reason(wire.stop_reason) or "stop")
            ],
        )
        if wire.usage is not None:  # absent usage stays unset so the pipeline counts tokens instead
            response.usage = wire.usage.canonical()
        return response

    def embeddings_response(self, body: bytes, endpoint: Endpoint) -> EmbeddingResponse:
        raise not_supported(self.kind, "embeddings")

    def chat_stream(self, endpoint: Endpoint) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder(endpoint)

    def map_error(self, status: int, headers: dict[str, str], body: bytes) -> AlfredError:
        kind, message = error_detail(body)
        err = upstream_error(status, message, provider=self.kind, retry_after=headers.get("retry-after"))
        if status == 400 and "prompt is too long" in message:
            err.code = "context_length_exceeded"
        elif status == 529 or kind == "overloaded_error":
            err.code = "upstream_overloaded"
        return err


def error_detail(body: bytes) -> tuple[str, str]:
    """``(type, message)`` of ``{"type":"error","error":{"type":…,"message":…}}``; other bodies as text."""
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return "", body[:500].decode("utf-8", errors="replace").strip()
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error.get("type") or ""), str(error["message"])
    return "", body[:500].decode("utf-8", errors="replace").strip()


# -- canonical → wire ---------------------------------------------------------------------------
def chat_body(request: ChatRequest, endpoint: Endpoint) -> dict[str, Any]:
    """The Messages API body for a canonical request."""
    if request.n is not None and request.n > 1:
        raise InvalidRequestError("anthropic returns one choice per request; 'n' must be 1", param="n")
    system, messages = _turns(request.messages)
    body: dict[str, Any] = {
        "model": endpoint.model,
        "max_tokens": request.output_limit() or DEFAULT_MAX_TOKENS,
        "messages": messages,
    }
    fmt = request.response_format or {}
    if fmt.get("type") == "json_object":
        system.append(JSON_OBJECT_INSTRUCTION)
    elif fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema") or {"type": "object"}
        body["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    if system:
        body["system"] = "\n\n".join(system)
    # Anthropic rejects stop sequences that are only whitespace; OpenAI accepts them.
    stops = [s for s in request.stop_list() if s.strip()]
    if stops:
        body["stop_sequences"] = stops
    if request.temperature is not None:
        # OpenAI's scale runs to 2, Anthropic's to 1: clamp rather than fail a request OpenAI accepts.
        body["temperature"] = min(request.temperature, 1.0)
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.tools:
        body["tools"] = [
            _tool(tool.function.name, tool.function.description, tool.function.parameters)
            for tool in request.tools
        ]
        choice = _tool_choice(request)
        if choice is not None:
            body["tool_choice"] = choice
    if request.user:
        body["metadata"] = {"user_id": request.user}
    if request.stream:
        body["stream"] = True
    return body


def _tool(name: str, description: str | None, parameters: dict[str, Any] | None) -> Block:
    tool: Block = {"name": name}
    if description:
        tool["description"] = description
    tool["input_schema"] = parameters or {"type": "object", "properties": {}}
    return tool


def _tool_choice(request: ChatRequest) -> Block | None:
    choice = request.tool_choice
    wire: Block | None
    if choice is None:
        wire = None
    elif choice == "auto":
        wire = {"type": "auto"}
    elif choice == "required":
        wire = {"type": "any"}
    elif choice == "none":
        return {"type": "none"}
    elif isinstance(choice, dict) and isinstance((choice.get("function") or {}).get("name"), str):
        wire = {"type": "tool", "name": choice["function"]["name"]}
    else:
        raise InvalidRequestError(f"unsupported tool_choice {choice!r}", param="tool_choice")
    if request.parallel_tool_calls is False:
        wire = {**(wire or {"type": "auto"}), "disable_parallel_tool_use": True}
    return wire


def _turns(messages: list[Message]) -> tuple[list[str], list[Block]]:
    """System texts, and user/assistant turns with same-role neighbours merged."""
    system: list[str] = []
    turns: list[Block] = []
    for i, message in enumerate(messages):
        role = message.role
        if role in ("system", "developer"):
            if text := message.text():
                system.append(text)
            continue
        if role == "user":
            blocks = _content_blocks(message.content, f"messages[{i}].content")
        elif role == "assistant":
            blocks = _assistant_blocks(message, i)
        elif role == "tool":
            role = "user"
            blocks = [_tool_result(message, i)]
        else:
            raise InvalidRequestError(
                f"role {role!r} is not supported by anthropic", param=f"messages[{i}].role"
            )
        if not blocks:
            continue  # Anthropic rejects empty turns; an empty message says nothing anyway
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    if not turns:
        raise InvalidRequestError("anthropic needs at least one user or assistant message", param="messages")
    for turn in turns:
        content = turn["content"]
        # Tool results must open their user turn, before any text that follows them.
        content.sort(key=lambda block: block["type"] != "tool_result")
        if len(content) == 1 and content[0]["type"] == "text":
            turn["content"] = content[0]["text"]
    return system, turns


def _content_blocks(content: str | list[ContentPart] | None, param: str) -> list[Block]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[Block] = []
    for n, part in enumerate(content):
        if part.type == "text":
            if part.text:
                blocks.append({"type": "text", "text": part.text})
        elif part.type == "image_url" and part.image_url is not None:
            blocks.append(_image(part.image_url.url, f"{param}[{n}]"))
        else:
            raise InvalidRequestError(
                f"content part type {part.type!r} is not supported by anthropic", param=f"{param}[{n}]"
            )
    return blocks


def _image(url: str, param: str) -> Block:
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if sep and encoding == "base64" and media_type and data:
            return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    raise InvalidRequestError("image_url must be an http(s) URL or a base64 data: URL", param=param)


def _assistant_blocks(message: Message, i: int) -> list[Block]:
    blocks: list[Block] = []
    if text := message.text():
        blocks.append({"type": "text", "text": text})
    for n, call in enumerate(message.tool_calls or ()):
        param = f"messages[{i}].tool_calls[{n}].function.arguments"
        try:
            arguments = json.loads(call.function.arguments) if call.function.arguments.strip() else {}
        except ValueError:
            raise InvalidRequestError("tool call arguments must be a JSON object", param=param) from None
        if not isinstance(arguments, dict):
            raise InvalidRequestError("tool call arguments must be a JSON object", param=param)
        blocks.append({"type": "tool_use", "id": call.id, "name": call.function.name, "input": arguments})
    return blocks


def _tool_result(message: Message, i: int) -> Block:
    if not message.tool_call_id:
        raise InvalidRequestError("a tool message needs 'tool_call_id'", param=f"messages[{i}].tool_call_id")
    content = message.content
    block: Block = {"type": "tool_result", "tool_use_id": message.tool_call_id}
    if isinstance(content, list):
        block["content"] = _content_blocks(content, f"messages[{i}].content")
    else:
        block["content"] = content or ""
    return block
