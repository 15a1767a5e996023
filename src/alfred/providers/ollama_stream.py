"""Ollama's NDJSON chat stream → canonical chat chunks."""

from __future__ import annotations

import uuid

from alfred.errors import UpstreamError
from alfred.providers.base import Endpoint, new_tool_call_id
from alfred.providers.ollama_wire import (
    WireChat,
    WireMessage,
    arguments_text,
    created_at_s,
    decode_chat,
    finish_reason,
    usage_of,
)
from alfred.providers.sse import NDJSONSplitter
from alfred.schema import ChatChunk, ChunkChoice, Delta, FunctionCallDelta, ToolCallDelta


class OllamaStreamDecoder:
    """Ollama's NDJSON stream → canonical chunks; the line with ``"done": true`` ends it."""

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self._lines = NDJSONSplitter()
        self._id = f"chatcmpl-{uuid.uuid4().hex}"
        self._model = ""
        self._created = 0
        self._role_sent = False
        self._tool_count = 0
        self.finished = False

    def feed(self, data: bytes) -> list[ChatChunk]:
        return self._decode(self._lines.feed(data))

    def close(self) -> list[ChatChunk]:
        return self._decode(self._lines.flush())

    def _decode(self, lines: list[bytes]) -> list[ChatChunk]:
        out: list[ChatChunk] = []
        for line in lines:
            if self.finished:
                break
            data = decode_chat(line, self._endpoint)
            if data.error:
                raise UpstreamError(f"{self._endpoint.provider}: {data.error}", retryable=False)
            out.extend(self._line(data))
        return out

    def _line(self, data: WireChat) -> list[ChatChunk]:
        if not self._created:
            self._model = data.model or self._endpoint.model
            self._created = created_at_s(data.created_at)
        message = data.message or WireMessage()
        out: list[ChatChunk] = []
        delta = Delta(content=message.content or None)
        if message.tool_calls:
            delta.tool_calls = []
            for call in message.tool_calls:
                # Each call arrives whole, so its first (and only) fragment carries id, name and arguments.
                delta.tool_calls.append(
                    ToolCallDelta(
                        index=self._tool_count,
                        id=call.id or new_tool_call_id(),
                        type="function",
                        function=FunctionCallDelta(name=call.function.name, arguments=arguments_text(call)),
                    )
                )
                self._tool_count += 1
        if delta.content or delta.tool_calls:
            out.append(self._chunk(delta))
        elif not self._role_sent and not data.done:
            out.append(self._chunk(Delta(content="")))  # an empty first line still opens the message
        if data.done:
            self.finished = True
            finish = finish_reason(data.done_reason, has_tool_calls=self._tool_count > 0)
            out.append(self._chunk(Delta(), finish))
            usage = usage_of(data)
            if usage is not None:
                out.append(
                    ChatChunk(id=self._id, model=self._model, created=self._created, choices=[], usage=usage)
                )
        return out

    def _chunk(self, delta: Delta, finish: str | None = None) -> ChatChunk:
        if not self._role_sent:
            delta.role = "assistant"
            self._role_sent = True
        return ChatChunk(
            id=self._id,
            model=self._model,
            created=self._created,
            choices=[ChunkChoice(index=0, delta=delta, finish_reason=finish)],
        )
