"""Canonical responses → Anthropic ``message`` objects, and the error body /v1/messages answers with.

Shared by the JSON response (``anthropic.py``) and the stream renderer (``anthropic_stream.py``).
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import Struct

from alfred.errors import AlfredError, UpstreamError
from alfred.schema import ChatResponse, Usage

_json = msgspec.json.Encoder()


class TextOut(Struct, tag="text", tag_field="type"):
    text: str


class ToolUseOut(Struct, tag="tool_use", tag_field="type"):
    id: str
    name: str
    input: dict[str, Any]


class UsageOut(Struct, omit_defaults=True):
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int | None = None


class MessageOut(Struct, kw_only=True):
    """An Anthropic ``message`` object, as ``POST /v1/messages`` returns it."""

    id: str
    type: str = "message"
    role: str = "assistant"
    model: str
    content: list[TextOut | ToolUseOut]
    stop_reason: str | None
    stop_sequence: str | None = None
    usage: UsageOut


def stop_reason(finish_reason: str | None, has_tool_calls: bool) -> str:
    """OpenAI's finish reason in Anthropic's terms.

    Some providers end tool calls with "stop" (TGI), so calls present mean ``tool_use``. The
    canonical schema does not say which stop sequence matched, so "stop" is always ``end_turn``.
    """
    if finish_reason == "length":
        return "max_tokens"
    if finish_reason == "content_filter":
        return "refusal"
    if finish_reason in ("tool_calls", "function_call") or has_tool_calls:
        return "tool_use"
    return "end_turn"


def usage_out(usage: Usage | None) -> UsageOut:
    """Anthropic counts cached prompt tokens apart from ``input_tokens``; OpenAI counts them within."""
    if usage is None:
        return UsageOut(0, 0)
    details = usage.prompt_tokens_details
    cached = details.cached_tokens if details and details.cached_tokens else 0
    return UsageOut(usage.prompt_tokens - cached, usage.completion_tokens, cached or None)


def tool_input(arguments: str, name: str) -> dict[str, Any]:
    """A tool call's JSON arguments as the object Anthropic's ``input`` must be."""
    if not arguments.strip():
        return {}
    try:
        value = msgspec.json.decode(arguments)
    except msgspec.DecodeError:
        value = None
    if not isinstance(value, dict):
        raise UpstreamError(f"the model called tool {name!r} with arguments that are not a JSON object")
    return value


def message_from_response(response: ChatResponse, usage: Usage | None, message_id: str) -> MessageOut:
    """A canonical response as an Anthropic message; ``usage`` is the metered one when known."""
    content: list[TextOut | ToolUseOut] = []
    finish: str | None = "stop"
    if response.choices:
        choice = response.choices[0]
        finish = choice.finish_reason
        message = choice.message
        text = message.content or message.refusal
        if message.refusal and not message.content:
            finish = "content_filter"  # OpenAI refuses with finish "stop" and the text in ``refusal``
        if text:
            content.append(TextOut(text))
        for call in message.tool_calls or ():
            content.append(
                ToolUseOut(
                    call.id, call.function.name, tool_input(call.function.arguments, call.function.name)
                )
            )
    has_tools = any(isinstance(block, ToolUseOut) for block in content)
    if usage is None and isinstance(response.usage, Usage):
        usage = response.usage
    return MessageOut(
        id=message_id,
        model=response.model,
        content=content,
        stop_reason=stop_reason(finish, has_tools),
        usage=usage_out(usage),
    )


def messages_error_body(error: AlfredError, request_id: str | None) -> bytes:
    """The gateway's OpenAI-format error with Anthropic's ``"type": "error"`` envelope around it."""
    payload: dict[str, Any] = {"type": "error", **error.to_dict()}
    if request_id:
        payload["error"]["request_id"] = request_id
        payload["request_id"] = request_id
    return _json.encode(payload)
