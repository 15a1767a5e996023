"""Builds the request the provider sees: the caller's request with masked spans replaced.

The caller's objects are never mutated; only the messages and parts that changed are copied.
"""

from __future__ import annotations

from msgspec import structs

from alfred.safety.findings import Span
from alfred.safety.masking import Masker
from alfred.safety.scanner import Location
from alfred.schema import ChatRequest, ContentPart, EmbeddingRequest, FunctionCall, Message, ToolCall


def masked_request(
    request: ChatRequest | EmbeddingRequest, edits: list[tuple[Location, str, list[Span]]], masker: Masker
) -> ChatRequest | EmbeddingRequest:
    """``request`` with each (location, original text, spans to mask) applied through ``masker``."""
    if isinstance(request, EmbeddingRequest):
        if isinstance(request.input, str):
            location, text, spans = edits[0]
            return structs.replace(request, input=masker.apply(text, spans))
        inputs = list(request.input)
        for location, text, spans in edits:
            inputs[location.input] = masker.apply(text, spans)
        return structs.replace(request, input=inputs)
    messages = list(request.messages)
    for location, text, spans in edits:
        masked = masker.apply(text, spans)
        messages[location.message] = _edit_message(messages[location.message], location, masked)
    return structs.replace(request, messages=messages)


def _edit_message(message: Message, location: Location, masked: str) -> Message:
    if location.tool_call >= 0:
        calls: list[ToolCall] = list(message.tool_calls or ())
        call = calls[location.tool_call]
        calls[location.tool_call] = structs.replace(
            call, function=FunctionCall(name=call.function.name, arguments=masked)
        )
        return structs.replace(message, tool_calls=calls)
    if location.part >= 0:
        assert isinstance(message.content, list)
        parts: list[ContentPart] = list(message.content)
        parts[location.part] = structs.replace(parts[location.part], text=masked)
        return structs.replace(message, content=parts)
    return structs.replace(message, content=masked)
