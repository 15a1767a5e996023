"""Cached answers in the shape the request asked for: a stream of canonical chunks when it streams.

A replay looks like a provider's stream to everything above it (``api/openai.py``'s SSE framing,
the Anthropic endpoint's event encoder): per choice, a first chunk with the role, the text in
pieces, tool calls (name and arguments, as OpenAI sends them), then a chunk with the finish reason.
The reverse, ``collect``, folds a stream's chunks back into one ``ChatResponse`` for storing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator

from msgspec import UNSET

from alfred.schema import (
    ChatChunk,
    ChatResponse,
    Choice,
    ChunkChoice,
    Delta,
    FunctionCall,
    FunctionCallDelta,
    ResponseMessage,
    ToolCall,
    ToolCallDelta,
    Usage,
)


def replay_chunks(response: ChatResponse, chunk_chars: int = 48) -> Iterator[ChatChunk]:
    """The chunks a provider would have streamed for ``response`` (no usage chunk: the API adds it)."""

    def chunk(index: int, delta: Delta, finish: str | None = None) -> ChatChunk:
        return ChatChunk(
            id=response.id,
            model=response.model,
            created=response.created,
            choices=[ChunkChoice(index=index, delta=delta, finish_reason=finish)],
            system_fingerprint=response.system_fingerprint,
        )

    for choice in response.choices:
        message = choice.message
        text = message.content or ""
        yield chunk(choice.index, Delta(role=message.role or "assistant", content=text[:chunk_chars] or None))
        for start in range(chunk_chars, len(text), chunk_chars):
            yield chunk(choice.index, Delta(content=text[start : start + chunk_chars]))
        if message.refusal:
            yield chunk(choice.index, Delta(refusal=message.refusal))
        tool_calls = message.tool_calls if message.tool_calls is not UNSET else []
        for position, call in enumerate(tool_calls or []):
            function = FunctionCallDelta(name=call.function.name, arguments=call.function.arguments)
            delta = ToolCallDelta(index=position, id=call.id, type=call.type, function=function)
            yield chunk(choice.index, Delta(tool_calls=[delta]))
        yield chunk(choice.index, Delta(), choice.finish_reason or "stop")


class ReplayStream:
    """A ``ChunkStream`` over a cached answer: complete by construction, nothing upstream to cancel."""

    def __init__(self, response: ChatResponse, chunk_chars: int = 48) -> None:
        self._response = response
        self._chunk_chars = chunk_chars
        self.complete = False
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[ChatChunk]:
        for item in replay_chunks(self._response, self._chunk_chars):
            if self.closed:
                return
            yield item
        self.complete = True

    async def aclose(self) -> None:
        self.closed = True


def collect(chunks: Iterable[ChatChunk], usage: Usage | None = None) -> ChatResponse | None:
    """Fold streamed chunks into the response they spell; None when there is nothing to keep."""
    first: ChatChunk | None = None
    texts: dict[int, list[str]] = {}
    refusals: dict[int, list[str]] = {}
    roles: dict[int, str] = {}
    finishes: dict[int, str | None] = {}
    calls: dict[int, dict[int, tuple[str, str, str, list[str]]]] = {}
    for item in chunks:
        if first is None and item.choices:
            first = item
        for choice in item.choices:
            index = choice.index
            delta = choice.delta
            finishes.setdefault(index, None)
            if delta.role:
                roles[index] = delta.role
            if delta.content:
                texts.setdefault(index, []).append(delta.content)
            if delta.refusal:
                refusals.setdefault(index, []).append(delta.refusal)
            for tool in delta.tool_calls or ():
                slots = calls.setdefault(index, {})
                call_id, kind, name, arguments = slots.get(tool.index, ("", "function", "", []))
                call_id = call_id or (tool.id or "")  # an id is set once, from its first fragment
                if tool.type:
                    kind = tool.type
                if tool.function and tool.function.name:
                    name = name or tool.function.name
                if tool.function and tool.function.arguments:
                    arguments.append(tool.function.arguments)
                slots[tool.index] = (call_id, kind, name, arguments)
            if choice.finish_reason:
                finishes[index] = choice.finish_reason
    if first is None:
        return None
    choices = []
    for index in sorted(finishes):
        tool_calls = [
            ToolCall(id=call_id, function=FunctionCall(name=name, arguments="".join(args)), type=kind)
            for _, (call_id, kind, name, args) in sorted(calls.get(index, {}).items())
        ]
        message = ResponseMessage(
            role=roles.get(index, "assistant"),
            content="".join(texts[index]) if index in texts else None,
            tool_calls=tool_calls if tool_calls else UNSET,
            refusal="".join(refusals[index]) if index in refusals else None,
        )
        choices.append(Choice(index=index, message=message, finish_reason=finishes[index]))
    return ChatResponse(
        id=first.id,
        model=first.model,
        created=first.created,
        choices=choices,
        usage=usage if usage is not None else UNSET,
        system_fingerprint=first.system_fingerprint if isinstance(first.system_fingerprint, str) else None,
    )
