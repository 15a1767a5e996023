"""Anthropic's Messages API, response side: its wire types, usage and stop reasons, and the stream decoder.

The stream is SSE with ``event:`` lines: ``message_start`` (input tokens), ``content_block_start``
(text, or ``tool_use`` with id and name), ``ping``, ``content_block_delta`` (``text_delta`` or
``input_json_delta``), ``content_block_stop``, ``message_delta`` (stop reason, output tokens),
``message_stop``; an ``error`` event may arrive mid-stream. Both whole responses (``anthropic.py``)
and streams share the types and mappings defined here.
"""

from __future__ import annotations

from typing import Any

import msgspec

from alfred.errors import ServiceUnavailableError, UpstreamError
from alfred.providers.base import Endpoint, now_s
from alfred.providers.sse import SSEEvent, SSEParser
from alfred.schema import (
    ChatChunk,
    ChunkChoice,
    Delta,
    FunctionCallDelta,
    ToolCallDelta,
    Usage,
)
from alfred.schema.chat import CompletionTokensDetails, PromptTokensDetails

# Anthropic's stop reasons in OpenAI's vocabulary. ``pause_turn`` (a server tool paused a long turn)
# ends this response normally; ``refusal`` is the model's safety classifier stepping in.
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: str | None) -> str | None:
    if stop_reason is None:
        return None
    return FINISH_REASONS.get(stop_reason, "stop")


class OutputTokensDetails(msgspec.Struct):
    thinking_tokens: int | None = None


class WireUsage(msgspec.Struct):
    """Anthropic's ``usage``; cache reads and writes are prompt tokens billed apart from ``input_tokens``."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    output_tokens_details: OutputTokensDetails | None = None

    def update(self, later: WireUsage) -> None:
        """Counts in ``message_delta`` are cumulative: each one present replaces the earlier value."""
        for name in (
            "input_tokens",
            "output_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
        ):
            value = getattr(later, name)
            if value is not None:
                setattr(self, name, value)
        if later.output_tokens_details is not None:
            self.output_tokens_details = later.output_tokens_details

    def canonical(self) -> Usage:
        cache_read = self.cache_read_input_tokens or 0
        prompt = (self.input_tokens or 0) + (self.cache_creation_input_tokens or 0) + cache_read
        completion = self.output_tokens or 0
        usage = Usage(prompt, completion, prompt + completion)
        if self.cache_read_input_tokens is not None:
            usage.prompt_tokens_details = PromptTokensDetails(cached_tokens=cache_read)
        thinking = self.output_tokens_details.thinking_tokens if self.output_tokens_details else None
        if thinking is not None:
            usage.completion_tokens_details = CompletionTokensDetails(reasoning_tokens=thinking)
        return usage


class WireBlock(msgspec.Struct):
    """One content block; only ``text`` and ``tool_use`` reach the client (thinking has no canonical slot)."""

    type: str
    text: str | None = None
    id: str | None = None
    name: str | None = None
    input: Any = None


class WireMessage(msgspec.Struct):
    """A whole Messages API response (and the skeleton inside ``message_start``)."""

    id: str = ""
    model: str = ""
    content: list[WireBlock] = msgspec.field(default_factory=list)
    stop_reason: str | None = None
    stop_sequence: str | None = None
    usage: WireUsage | None = None


class WireError(msgspec.Struct):
    type: str = "error"
    message: str = ""


class WireDelta(msgspec.Struct):
    """The ``delta`` of ``content_block_delta`` (text / partial JSON) or of ``message_delta`` (stop)."""

    type: str | None = None
    text: str | None = None
    partial_json: str | None = None
    stop_reason: str | None = None


class WireEvent(msgspec.Struct):
    """Any stream event: which fields are set depends on ``type``."""

    type: str
    message: WireMessage | None = None
    index: int | None = None
    content_block: WireBlock | None = None
    delta: WireDelta | None = None
    usage: WireUsage | None = None
    error: WireError | None = None


_event_decoder = msgspec.json.Decoder(WireEvent)


def stream_error(provider: str, error: WireError | None) -> UpstreamError:
    """An ``error`` event: the response already started, so it is never retried elsewhere."""
    kind = error.type if error else "api_error"
    message = f"{provider}: {error.message if error and error.message else kind}"
    if kind == "overloaded_error":
        return ServiceUnavailableError(message, code="upstream_overloaded", retryable=False)
    return UpstreamError(message, code=f"upstream_{kind}", retryable=False)


class AnthropicStreamDecoder:
    """Decodes one Messages API event stream into OpenAI-shaped canonical chunks."""

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self._sse = SSEParser()
        self._id = ""
        self._model = endpoint.model
        self._created = now_s()
        self._usage = WireUsage()
        self._tools: dict[int, int] = {}  # content block index → OpenAI tool call index
        self._started = False
        self.finished = False

    def feed(self, data: bytes) -> list[ChatChunk]:
        return self._decode(self._sse.feed(data))

    def close(self) -> list[ChatChunk]:
        # An event left without its blank line at EOF was cut mid-way: drop it rather than fail on
        # its half JSON; ``finished`` stays false, so the caller reports the cut.
        return self._decode(self._sse.flush(), tolerate_truncation=True)

    def _decode(self, events: list[SSEEvent], tolerate_truncation: bool = False) -> list[ChatChunk]:
        out: list[ChatChunk] = []
        for event in events:
            if not event.data.strip():
                continue
            try:
                wire = _event_decoder.decode(event.data)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                if tolerate_truncation and not self.finished:
                    continue
                raise UpstreamError(f"{self._endpoint.provider}: malformed stream event ({exc})") from exc
            if event.event == "error" or wire.type == "error":
                raise stream_error(self._endpoint.provider, wire.error)
            self._handle(wire, out)
        return out

    def _handle(self, event: WireEvent, out: list[ChatChunk]) -> None:
        kind = event.type
        if kind == "message_start" and event.message is not None:
            message = event.message
            self._id = message.id or self._id
            self._model = message.model or self._model
            if message.usage is not None:
                self._usage.update(message.usage)
            self._start(out)
        elif kind == "content_block_start" and event.content_block is not None:
            self._block_start(event.index or 0, event.content_block, out)
        elif kind == "content_block_delta" and event.delta is not None:
            self._block_delta(event.index or 0, event.delta, out)
        elif kind == "message_delta":
            if event.usage is not None:
                self._usage.update(event.usage)
            reason = finish_reason(event.delta.stop_reason if event.delta else None)
            if reason is not None:
                self._start(out)
                out.append(self._chunk(Delta(), reason))
            out.append(self._usage_chunk())
        elif kind == "message_stop":
            self.finished = True
        # ping, content_block_stop and event types added later carry nothing for the client.

    def _start(self, out: list[ChatChunk]) -> None:
        if not self._started:
            self._started = True
            out.append(self._chunk(Delta(role="assistant", content="")))

    def _block_start(self, index: int, block: WireBlock, out: list[ChatChunk]) -> None:
        if block.type == "text" and block.text:
            self._start(out)
            out.append(self._chunk(Delta(content=block.text)))
        elif block.type == "tool_use":
            self._start(out)
            call_index = len(self._tools)
            self._tools[index] = call_index
            call = ToolCallDelta(
                index=call_index,
                id=block.id or f"toolu_{self._id}_{call_index}",
                type="function",
                function=FunctionCallDelta(name=block.name or "", arguments=""),
            )
            out.append(self._chunk(Delta(tool_calls=[call])))

    def _block_delta(self, index: int, delta: WireDelta, out: list[ChatChunk]) -> None:
        if delta.type == "text_delta" and delta.text:
            self._start(out)
            out.append(self._chunk(Delta(content=delta.text)))
        elif delta.type == "input_json_delta" and delta.partial_json and index in self._tools:
            fragment = ToolCallDelta(
                index=self._tools[index], function=FunctionCallDelta(arguments=delta.partial_json)
            )
            out.append(self._chunk(Delta(tool_calls=[fragment])))
        # thinking_delta, signature_delta and citations_delta have no place in OpenAI's chunk.

    def _chunk(self, delta: Delta, finish: str | None = None) -> ChatChunk:
        return ChatChunk(
            id=self._id,
            model=self._model,
            created=self._created,
            choices=[ChunkChoice(index=0, delta=delta, finish_reason=finish)],
        )

    def _usage_chunk(self) -> ChatChunk:
        return ChatChunk(
            id=self._id, model=self._model, created=self._created, choices=[], usage=self._usage.canonical()
        )
