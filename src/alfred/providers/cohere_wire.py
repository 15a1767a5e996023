"""Cohere v2's wire types (only the fields we read; msgspec ignores the rest) and the small mappings
both the adapter and its stream decoder use: finish reasons, usage, tool-call ids, error messages."""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import Struct

from alfred.schema import Usage

# Cohere's finish reasons → OpenAI's. ERROR/TIMEOUT are failures: a stream raises on them.
FINISH_REASONS = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
    "ERROR": "error",
    "TIMEOUT": "error",
}


class WireTokens(Struct):
    input_tokens: float | None = None
    output_tokens: float | None = None


class WireUsage(Struct):
    billed_units: WireTokens | None = None
    tokens: WireTokens | None = None


class WireFunction(Struct):
    name: str = ""
    arguments: str = ""


class WireToolCall(Struct):
    id: str | None = None
    function: WireFunction = msgspec.field(default_factory=WireFunction)


class WirePart(Struct):
    type: str = "text"
    text: str | None = None


class WireMessage(Struct):
    content: list[WirePart] | None = None
    tool_calls: list[WireToolCall] | None = None
    tool_plan: str | None = None


class WireResponse(Struct):
    id: str = ""
    finish_reason: str | None = None
    message: WireMessage | None = None
    usage: WireUsage | None = None


class DeltaContent(Struct):
    type: str | None = None
    text: str | None = None


class DeltaMessage(Struct):
    # message-start sends empty lists here; content/tool-call events send one object.
    content: DeltaContent | list[Any] | None = None
    tool_calls: WireToolCall | list[Any] | None = None
    tool_plan: str | None = None


class EventDelta(Struct):
    message: DeltaMessage | None = None
    finish_reason: str | None = None
    usage: WireUsage | None = None
    error: str | None = None


class WireEvent(Struct):
    type: str = ""
    id: str | None = None
    index: int | None = None
    delta: EventDelta | None = None
    message: Any = None  # a bare error body ({"message": "..."}) instead of an event


class EmbedVectors(Struct):
    float_: list[list[float]] | None = msgspec.field(default=None, name="float")


class EmbedResponse(Struct):
    embeddings: EmbedVectors
    meta: WireUsage | None = None  # embed's meta has the same billed_units / tokens pair


response_decoder = msgspec.json.Decoder(WireResponse)
event_decoder = msgspec.json.Decoder(WireEvent)
embed_decoder = msgspec.json.Decoder(EmbedResponse)


def finish_reason(raw: str | None, *, has_tool_calls: bool) -> str:
    """OpenAI's finish reason for Cohere's; a turn that called tools ends in ``tool_calls``."""
    mapped = FINISH_REASONS.get(raw or "COMPLETE", (raw or "stop").lower())
    if has_tool_calls and mapped == "stop":
        return "tool_calls"  # older models end tool turns with COMPLETE
    return mapped


def usage_of(raw: WireUsage | None) -> Usage | None:
    if raw is None:
        return None
    # ``tokens`` is what the model processed; ``billed_units`` can be lower (free prompt templates).
    counted = raw.tokens or raw.billed_units
    if counted is None:
        return None
    prompt, completion = int(counted.input_tokens or 0), int(counted.output_tokens or 0)
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


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
