"""Decodes ``streamGenerateContent`` into canonical chunks, with or without ``alt=sse``.

With ``alt=sse`` each event is ``data: <GenerateContentResponse>`` ended by ``\\r\\n\\r\\n``; there is
no ``[DONE]``: the stream is over once every candidate has carried a ``finishReason``. Without
``alt=sse`` the body is one JSON array of responses arriving piecemeal, so complete objects are cut
out of it as their closing brace arrives. Each chunk repeats ``usageMetadata``; the last one counts.
Function calls arrive whole (``args`` an object), and are re-emitted as OpenAI's fragments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import msgspec

from alfred.errors import UpstreamError
from alfred.providers.base import Endpoint, now_s
from alfred.providers.gemini_response import (
    WireCandidate,
    WireResponse,
    WireUsage,
    arguments_json,
    check_not_blocked,
    finish_reason,
    response_decoder,
    response_id,
    stream_error,
    tool_call_id,
    usage_of,
)
from alfred.providers.sse import SSEParser
from alfred.schema import ChatChunk, ChunkChoice, Delta, FunctionCallDelta, ToolCallDelta

_STRUCTURAL = re.compile(rb'[{}"\\]')
_RETRYABLE = frozenset({429, 500, 503, 504})


class JSONArraySplitter:
    """Cuts complete top-level JSON objects out of a byte stream, skipping what lies between them.

    Only braces and string quoting matter: the array's brackets and commas sit outside every object,
    and UTF-8 continuation bytes can never look like ASCII punctuation.
    """

    __slots__ = ("_buffer", "_depth", "_escape", "_in_string", "_scan")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._depth = 0
        self._in_string = False
        self._escape = False
        self._scan = 0  # where scanning resumes in _buffer

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        objects: list[bytes] = []
        buffer = self._buffer
        position = self._scan
        start = 0
        while True:
            if self._escape:
                if position >= len(buffer):
                    break
                self._escape = False
                position += 1
                continue
            if self._depth == 0:
                brace = buffer.find(b"{", position)
                if brace == -1:
                    position = len(buffer)
                    start = position  # bytes between objects are never needed again
                    break
                start = position = brace
            match = _STRUCTURAL.search(buffer, position)
            if match is None:
                position = len(buffer)
                break
            char = match.group()
            position = match.end()
            if self._in_string:
                if char == b"\\":
                    self._escape = True
                elif char == b'"':
                    self._in_string = False
            elif char == b'"':
                self._in_string = True
            elif char == b"{":
                self._depth += 1
            elif char == b"}":
                self._depth -= 1
                if self._depth == 0:
                    objects.append(bytes(buffer[start:position]))
                    start = position
        del buffer[:start]
        self._scan = position - start
        return objects


@dataclass(slots=True)
class _CandidateState:
    started: bool = False
    finished: bool = False
    tool_calls: int = 0


@dataclass(slots=True)
class _Framing:
    """Which of the two stream shapes this is, decided by the first byte that is not whitespace."""

    mode: str = ""  # "" until known, then "sse" or "json"
    sse: SSEParser = field(default_factory=SSEParser)
    json: JSONArraySplitter = field(default_factory=JSONArraySplitter)
    pending: bytes = b""

    def feed(self, data: bytes) -> list[str | bytes]:
        if not self.mode:
            data = self.pending + data
            stripped = data.lstrip()
            if not stripped:
                self.pending = data
                return []
            self.pending = b""
            self.mode = "json" if stripped[:1] in (b"[", b"{") else "sse"
        if self.mode == "json":
            return list(self.json.feed(data))
        return [event.data for event in self.sse.feed(data) if event.data]

    def flush(self) -> list[str | bytes]:
        if self.mode == "sse":
            return [event.data for event in self.sse.flush() if event.data]
        return []  # an unfinished JSON object is a cut stream, not a chunk


class GeminiStreamDecoder:
    """Incremental decoder for one Gemini stream (see the module docstring)."""

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self._framing = _Framing()
        self._candidates: dict[int, _CandidateState] = {}
        self._usage: WireUsage | None = None
        self._id = ""
        self._model = ""
        self._created = 0
        self._emitted = False
        self.finished = False

    def feed(self, data: bytes) -> list[ChatChunk]:
        return self._decode(self._framing.feed(data))

    def close(self) -> list[ChatChunk]:
        return self._decode(self._framing.flush())

    def _decode(self, payloads: list[str | bytes]) -> list[ChatChunk]:
        out: list[ChatChunk] = []
        for payload in payloads:
            try:
                wire = response_decoder.decode(payload)
            except msgspec.DecodeError as exc:
                raise UpstreamError(f"{self._endpoint.provider}: malformed stream event ({exc})") from exc
            if wire.error is not None:
                retryable = wire.error.code in _RETRYABLE and not self._emitted
                raise stream_error(wire.error, self._endpoint.provider, retryable=retryable)
            check_not_blocked(wire, self._endpoint.provider)
            out.extend(self._chunks(wire))
        self._emitted = self._emitted or bool(out)
        return out

    def _chunks(self, wire: WireResponse) -> list[ChatChunk]:
        if not self._id:
            self._id = response_id(wire)
            self._model = wire.model_version or self._endpoint.model
            self._created = now_s()
        if wire.usage_metadata is not None:
            self._usage = wire.usage_metadata
        out: list[ChatChunk] = []
        for position, candidate in enumerate(wire.candidates):
            out.extend(self._candidate(candidate.index or position, candidate))
        if (
            self._candidates
            and all(state.finished for state in self._candidates.values())
            and not self.finished
        ):
            self.finished = True
            if self._usage is not None:
                out.append(self._chunk([], usage=True))
        return out

    def _candidate(self, index: int, candidate: WireCandidate) -> list[ChatChunk]:
        state = self._candidates.setdefault(index, _CandidateState())
        if state.finished:
            return []
        out: list[ChatChunk] = []
        text = ""
        for part in candidate.content.parts if candidate.content else ():
            if part.function_call is not None:
                if text:  # keep the order the parts came in: words before the call they lead up to
                    out.append(self._choice_chunk(index, state, Delta(content=text)))
                    text = ""
                call = part.function_call
                ordinal = state.tool_calls
                state.tool_calls += 1
                opening = ToolCallDelta(
                    ordinal, tool_call_id(call, ordinal), "function", FunctionCallDelta(call.name, "")
                )
                out.append(self._choice_chunk(index, state, Delta(tool_calls=[opening])))
                arguments = ToolCallDelta(ordinal, function=FunctionCallDelta(arguments=arguments_json(call)))
                out.append(self._choice_chunk(index, state, Delta(tool_calls=[arguments])))
            elif part.text and not part.thought:
                text += part.text
        if text:
            out.append(self._choice_chunk(index, state, Delta(content=text)))
        reason = finish_reason(candidate.finish_reason, state.tool_calls > 0)
        if reason is not None:
            if not state.started:
                out.append(self._choice_chunk(index, state, Delta(content="")))
            state.finished = True
            out.append(self._chunk([ChunkChoice(index, Delta(), reason)]))
        return out

    def _choice_chunk(self, index: int, state: _CandidateState, delta: Delta) -> ChatChunk:
        if not state.started:
            delta.role = "assistant"  # OpenAI's first delta of each choice names the role
            state.started = True
        return self._chunk([ChunkChoice(index, delta)])

    def _chunk(self, choices: list[ChunkChoice], *, usage: bool = False) -> ChatChunk:
        chunk = ChatChunk(id=self._id, model=self._model, created=self._created, choices=choices)
        if usage and self._usage is not None:
            chunk.usage = usage_of(self._usage)
        return chunk
