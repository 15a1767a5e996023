"""Cohere v2's typed SSE events (``message-start`` … ``message-end``) → canonical chat chunks."""

from __future__ import annotations

import msgspec

from alfred.errors import UpstreamError
from alfred.providers.base import Endpoint, new_tool_call_id, now_s
from alfred.providers.cohere_wire import (
    FINISH_REASONS,
    DeltaContent,
    DeltaMessage,
    EventDelta,
    WireEvent,
    WireToolCall,
    event_decoder,
    finish_reason,
    usage_of,
)
from alfred.providers.sse import SSEEvent, SSEParser
from alfred.schema import ChatChunk, ChunkChoice, Delta, FunctionCallDelta, ToolCallDelta


class CohereStreamDecoder:
    """Cohere v2 SSE events → canonical chunks; ``message-end`` is the provider's end marker."""

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self._sse = SSEParser()
        self._id = ""
        self._created = now_s()
        self._role_sent = False
        self._tools: dict[int, int] = {}  # Cohere's tool-call event index → canonical index
        self._current_tool = -1
        self._thinking: set[int] = set()  # content blocks holding reasoning, not answer text
        self.finished = False

    def feed(self, data: bytes) -> list[ChatChunk]:
        return self._decode(self._sse.feed(data))

    def close(self) -> list[ChatChunk]:
        return self._decode(self._sse.flush())

    def _decode(self, events: list[SSEEvent]) -> list[ChatChunk]:
        out: list[ChatChunk] = []
        for event in events:
            data = event.data.strip()
            if not data or data == "[DONE]" or self.finished:
                continue
            try:
                raw = event_decoder.decode(data)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise UpstreamError(f"{self._endpoint.provider}: malformed stream event ({exc})") from exc
            out.extend(self._event(raw, raw.type or event.event))
        return out

    def _event(self, event: WireEvent, kind: str) -> list[ChatChunk]:
        delta = event.delta or EventDelta()
        message = delta.message or DeltaMessage()
        if kind == "message-start":
            self._id = event.id or self._id
            return [self._chunk(Delta(content=""))]
        if kind in ("content-start", "content-delta"):
            content = message.content if isinstance(message.content, DeltaContent) else None
            index = event.index or 0
            if kind == "content-start" and content is not None and content.type == "thinking":
                self._thinking.add(index)
            if content is None or not content.text or index in self._thinking:
                return []
            return [self._chunk(Delta(content=content.text))]
        if kind == "tool-plan-delta":
            return [self._chunk(Delta(content=message.tool_plan))] if message.tool_plan else []
        if kind == "tool-call-start":
            return [self._tool_start(event, message)]
        if kind == "tool-call-delta":
            return self._tool_delta(event, message)
        if kind == "message-end":
            return self._end(delta)
        if isinstance(event.message, str) and (kind == "error" or not event.type):
            raise UpstreamError(f"{self._endpoint.provider}: {event.message}", retryable=False)
        return []  # content-end, tool-call-end, citation-*, debug: nothing for the client

    def _tool_start(self, event: WireEvent, message: DeltaMessage) -> ChatChunk:
        call = message.tool_calls if isinstance(message.tool_calls, WireToolCall) else WireToolCall()
        canonical = len(self._tools)
        self._tools[event.index if event.index is not None else canonical] = canonical
        self._current_tool = canonical
        function = FunctionCallDelta(name=call.function.name, arguments=call.function.arguments)
        first = ToolCallDelta(
            index=canonical, id=call.id or new_tool_call_id(), type="function", function=function
        )
        return self._chunk(Delta(tool_calls=[first]))

    def _tool_delta(self, event: WireEvent, message: DeltaMessage) -> list[ChatChunk]:
        call = message.tool_calls
        fragment = call.function.arguments if isinstance(call, WireToolCall) else ""
        if not fragment:
            return []
        # Older streams give tool events no index: fragments belong to the call last started.
        canonical = self._current_tool if event.index is None else self._tools.get(event.index, -1)
        if canonical < 0:
            raise UpstreamError(f"{self._endpoint.provider}: tool-call-delta before its tool-call-start")
        more = ToolCallDelta(index=canonical, function=FunctionCallDelta(arguments=fragment))
        return [self._chunk(Delta(tool_calls=[more]))]

    def _end(self, delta: EventDelta) -> list[ChatChunk]:
        if delta.error or FINISH_REASONS.get(delta.finish_reason or "") == "error":
            reason = delta.error or f"generation ended with {delta.finish_reason}"
            raise UpstreamError(f"{self._endpoint.provider}: {reason}", retryable=False)
        self.finished = True
        out = [self._chunk(Delta(), finish_reason(delta.finish_reason, has_tool_calls=bool(self._tools)))]
        usage = usage_of(delta.usage)
        if usage is not None:
            out.append(
                ChatChunk(
                    id=self._id, model=self._endpoint.model, created=self._created, choices=[], usage=usage
                )
            )
        return out

    def _chunk(self, delta: Delta, finish: str | None = None) -> ChatChunk:
        if not self._role_sent:
            delta.role = "assistant"
            self._role_sent = True
        return ChatChunk(
            id=self._id,
            model=self._endpoint.model,
            created=self._created,
            choices=[ChunkChoice(index=0, delta=delta, finish_reason=finish)],
        )
