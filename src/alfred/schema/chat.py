"""Canonical chat types. OpenAI's chat schema is the lingua franca; adapters translate to and from it.

Structs are msgspec (fast decode/encode on the hot path). Fields that OpenAI's API does not define
here survive in ``ChatRequest.extra`` and pass through untouched to OpenAI-compatible providers.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, Struct, UnsetType


class ImageURL(Struct, omit_defaults=True):
    url: str
    detail: str | None = None


class ContentPart(Struct, omit_defaults=True):
    """One part of a multi-part message: ``text`` or ``image_url`` (other types pass through)."""

    type: str
    text: str | None = None
    image_url: ImageURL | None = None


class FunctionCall(Struct, omit_defaults=True):
    name: str
    arguments: str  # a JSON document, as OpenAI sends it


class ToolCall(Struct):
    """A completed tool call; every field is always sent (clients require ``type``)."""

    id: str
    function: FunctionCall
    type: str = "function"


class Message(Struct, omit_defaults=True):
    role: str
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    refusal: str | None = None

    def text(self) -> str:
        """The message's text parts joined; images and other parts contribute nothing."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text or "" for p in self.content if p.type == "text")


class FunctionDef(Struct, omit_defaults=True):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(Struct):
    """A tool the model may call; ``type`` is always sent (the OpenAI API requires it)."""

    function: FunctionDef
    type: str = "function"


class StreamOptions(Struct, omit_defaults=True):
    include_usage: bool | None = None


class ChatRequest(Struct, kw_only=True, omit_defaults=True):
    """A chat completion request in canonical (OpenAI) form."""

    model: str
    messages: list[Message]
    stream: bool = False
    temperature: float | None = None
    top_p: float | None = None
    n: int | None = None
    stop: str | list[str] | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    tools: list[Tool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    stream_options: StreamOptions | None = None
    user: str | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    # Unknown fields, kept verbatim for pass-through; never sent by non-OpenAI adapters.
    extra: dict[str, Any] = msgspec.field(default_factory=dict)

    def output_limit(self) -> int | None:
        """The caller's cap on generated tokens, whichever spelling they used."""
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens

    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)

    def wants_usage_in_stream(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class PromptTokensDetails(Struct, omit_defaults=True):
    cached_tokens: int | None = None


class CompletionTokensDetails(Struct, omit_defaults=True):
    reasoning_tokens: int | None = None


class Usage(Struct):
    """Token counts, integers always; the three totals are always sent, even when zero."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: PromptTokensDetails | UnsetType | None = UNSET
    completion_tokens_details: CompletionTokensDetails | UnsetType | None = UNSET


class ResponseMessage(Struct, omit_defaults=False):
    role: str = "assistant"
    content: str | None = None
    tool_calls: list[ToolCall] | UnsetType = UNSET
    refusal: str | None = None


class Choice(Struct):
    index: int
    message: ResponseMessage
    finish_reason: str | None = "stop"
    logprobs: dict[str, Any] | None = None


class ChatResponse(Struct, kw_only=True):
    id: str
    model: str
    choices: list[Choice]
    created: int
    object: str = "chat.completion"
    usage: Usage | UnsetType = UNSET
    system_fingerprint: str | None = None


class FunctionCallDelta(Struct, omit_defaults=True):
    name: str | None = None
    arguments: str | None = None


class ToolCallDelta(Struct, omit_defaults=True):
    index: int
    id: str | None = None
    type: str | None = None
    function: FunctionCallDelta | None = None


class Delta(Struct, omit_defaults=True):
    role: str | None = None
    content: str | None = None
    tool_calls: list[ToolCallDelta] | None = None
    refusal: str | None = None


class ChunkChoice(Struct):
    index: int
    delta: Delta
    finish_reason: str | None = None
    logprobs: dict[str, Any] | None = None


class ChatChunk(Struct, kw_only=True):
    """One streamed event in canonical form (OpenAI's ``chat.completion.chunk``)."""

    id: str
    model: str
    created: int
    choices: list[ChunkChoice]
    object: str = "chat.completion.chunk"
    usage: Usage | UnsetType | None = UNSET
    system_fingerprint: str | UnsetType | None = UNSET
