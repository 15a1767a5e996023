"""Gemini's response and error bodies → canonical: shared by whole responses and stream chunks.

A ``GenerateContentResponse`` has ``candidates`` (each a ``content`` of ``parts`` plus a
``finishReason``), ``usageMetadata`` and, when the prompt itself was refused, ``promptFeedback``
with no candidates. Errors are Google's ``{"error": {"code", "message", "status", "details"}}``,
wrapped in a JSON array when they answer a stream requested without ``alt=sse``.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
from msgspec import Struct

from alfred.errors import AlfredError, ContentPolicyError, UpstreamError
from alfred.providers.base import Endpoint, now_s
from alfred.schema import ChatResponse, Choice, FunctionCall, ResponseMessage, ToolCall, Usage
from alfred.schema.chat import CompletionTokensDetails, PromptTokensDetails


class WireFunctionCall(Struct):
    name: str = ""
    args: dict[str, Any] | None = None
    id: str | None = None


class WirePart(Struct, rename="camel"):
    text: str | None = None
    thought: bool | None = None
    function_call: WireFunctionCall | None = None


class WireContent(Struct):
    parts: list[WirePart] = msgspec.field(default_factory=list)
    role: str | None = None


class WireCandidate(Struct, rename="camel"):
    content: WireContent | None = None
    finish_reason: str | None = None
    index: int = 0


class WireUsage(Struct, rename="camel"):
    prompt_token_count: int = 0
    candidates_token_count: int = 0
    total_token_count: int = 0
    thoughts_token_count: int = 0
    cached_content_token_count: int = 0
    tool_use_prompt_token_count: int = 0


class WirePromptFeedback(Struct, rename="camel"):
    block_reason: str | None = None


class WireError(Struct):
    code: int = 0
    message: str = ""
    status: str = ""


class WireResponse(Struct, rename="camel"):
    candidates: list[WireCandidate] = msgspec.field(default_factory=list)
    usage_metadata: WireUsage | None = None
    prompt_feedback: WirePromptFeedback | None = None
    model_version: str | None = None
    response_id: str | None = None
    error: WireError | None = None


response_decoder = msgspec.json.Decoder(WireResponse)

_FILTERED = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)


def finish_reason(reason: str | None, called_tools: bool) -> str | None:
    """Gemini's ``finishReason`` in OpenAI's terms; None while a candidate is still going."""
    if reason is None:
        return None
    if reason == "MAX_TOKENS":
        return "length"
    if reason in _FILTERED:
        return "content_filter"
    # Gemini ends a function-calling turn with STOP; OpenAI callers look for "tool_calls".
    return "tool_calls" if called_tools else "stop"


def usage_of(wire: WireUsage) -> Usage:
    """Thinking tokens are generated and billed as output, so they count as completion tokens."""
    prompt = wire.prompt_token_count + wire.tool_use_prompt_token_count
    completion = wire.candidates_token_count + wire.thoughts_token_count
    usage = Usage(prompt, completion, prompt + completion)
    if wire.cached_content_token_count:
        usage.prompt_tokens_details = PromptTokensDetails(cached_tokens=wire.cached_content_token_count)
    if wire.thoughts_token_count:
        usage.completion_tokens_details = CompletionTokensDetails(reasoning_tokens=wire.thoughts_token_count)
    return usage


def tool_call_id(call: WireFunctionCall, ordinal: int) -> str:
    """Gemini's own call id when it sends one, else a positional one (Gemini matches results by name)."""
    return call.id or f"call_{ordinal}"


def arguments_json(call: WireFunctionCall) -> str:
    return json.dumps(call.args or {}, ensure_ascii=False, separators=(",", ":"))


def check_not_blocked(wire: WireResponse, provider: str) -> None:
    """A refused prompt comes back as HTTP 200 with no candidates; the caller gets a 400."""
    if wire.candidates:
        return
    if wire.prompt_feedback is not None and wire.prompt_feedback.block_reason:
        raise ContentPolicyError(
            f"{provider}: the prompt was blocked ({wire.prompt_feedback.block_reason})", retryable=False
        )


def response_id(wire: WireResponse) -> str:
    return f"chatcmpl-{wire.response_id}" if wire.response_id else f"chatcmpl-{uuid.uuid4().hex}"


def chat_response(body: bytes, endpoint: Endpoint) -> ChatResponse:
    try:
        wire = response_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise UpstreamError(f"{endpoint.provider}: malformed Gemini response ({exc})") from exc
    if wire.error is not None:
        raise stream_error(wire.error, endpoint.provider, retryable=wire.error.code in (429, 500, 503, 504))
    check_not_blocked(wire, endpoint.provider)
    choices = []
    for position, candidate in enumerate(wire.candidates):
        texts: list[str] = []
        calls: list[ToolCall] = []
        for part in candidate.content.parts if candidate.content else ():
            if part.function_call is not None:
                call = part.function_call
                calls.append(
                    ToolCall(tool_call_id(call, len(calls)), FunctionCall(call.name, arguments_json(call)))
                )
            elif part.text is not None and not part.thought:
                texts.append(part.text)
        message = ResponseMessage(content="".join(texts) if texts else None)
        if calls:
            message.tool_calls = calls
        index = candidate.index if candidate.index else position
        choices.append(Choice(index, message, finish_reason(candidate.finish_reason or "STOP", bool(calls))))
    response = ChatResponse(
        id=response_id(wire),
        model=wire.model_version or endpoint.model,
        choices=choices,
        created=now_s(),
    )
    if wire.usage_metadata is not None:
        response.usage = usage_of(wire.usage_metadata)
    return response


def stream_error(error: WireError, provider: str, *, retryable: bool) -> AlfredError:
    text = error.message or error.status or "stream error"
    return UpstreamError(f"{provider}: {text}", retryable=retryable)


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """What an error body says: Google's message, its status name, the retry delay and the reason."""

    message: str
    status: str = ""
    retry_after: str | None = None
    reason: str | None = None


def error_info(body: bytes) -> ErrorInfo:
    try:
        data: Any = json.loads(body)
    except ValueError:
        return ErrorInfo(body[:500].decode("utf-8", errors="replace").strip())
    if isinstance(data, list) and data:
        data = data[0]  # streamGenerateContent without alt=sse wraps the error in an array
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return ErrorInfo(body[:500].decode("utf-8", errors="replace").strip())
    retry_after = None
    reason = None
    for detail in error.get("details") or ():
        if not isinstance(detail, dict):
            continue
        kind = str(detail.get("@type", ""))
        if kind.endswith("google.rpc.RetryInfo"):
            retry_after = _seconds(detail.get("retryDelay"))
        elif kind.endswith("google.rpc.ErrorInfo") and isinstance(detail.get("reason"), str):
            reason = detail["reason"]
    return ErrorInfo(str(error.get("message") or ""), str(error.get("status") or ""), retry_after, reason)


def _seconds(delay: Any) -> str | None:
    """``"37s"`` / ``"0.5s"`` (protobuf Duration JSON) → whole seconds for a retry-after header."""
    if not isinstance(delay, str) or not delay.endswith("s"):
        return None
    try:
        return str(max(1, math.ceil(float(delay[:-1]))))
    except ValueError:
        return None
