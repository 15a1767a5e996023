"""Restores placeholders in a streamed answer, chunk by chunk, without waiting for the whole answer.

Each choice's content and each tool call's arguments is its own channel with its own small hold-back
buffer; a channel is flushed into the chunk that finishes its choice, or into one extra chunk when
the stream ends (or fails) with text still held. Chunks are copied, never edited in place: a cache
below may hold the very objects it replays to other callers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from msgspec import UNSET, structs

from alfred.errors import AlfredError
from alfred.providers.stream import ChunkStream
from alfred.safety.masking import Restorer, StreamRestorer
from alfred.schema import ChatChunk, ChunkChoice, Delta, FunctionCallDelta, ToolCallDelta


class RestoringStream:
    """Wraps a ``ChunkStream``; yields the same chunks with our placeholders swapped back."""

    def __init__(self, inner: ChunkStream, restorer: Restorer) -> None:
        self._inner = inner
        self._restorer = restorer
        self._content: dict[int, StreamRestorer] = {}
        self._arguments: dict[tuple[int, int], StreamRestorer] = {}
        self.complete = False

    async def __aiter__(self) -> AsyncIterator[ChatChunk]:
        last: ChatChunk | None = None
        try:
            async for chunk in self._inner:
                last = chunk
                if chunk.choices:
                    chunk = structs.replace(chunk, choices=[self._restore(c) for c in chunk.choices])
                yield chunk
        except AlfredError:
            tail = self._tail(last)
            if tail is not None:
                yield tail
            raise
        self.complete = self._inner.complete
        tail = self._tail(last)
        if tail is not None:
            yield tail

    async def aclose(self) -> None:
        await self._inner.aclose()

    def _restore(self, choice: ChunkChoice) -> ChunkChoice:
        delta = choice.delta
        finishing = choice.finish_reason is not None
        content = delta.content
        if content or (finishing and choice.index in self._content):
            channel = self._content.get(choice.index)
            if channel is None:
                channel = self._content[choice.index] = self._restorer.stream()
            content = channel.feed(content or "")
            if finishing:
                content += channel.flush()
        tools: list[ToolCallDelta] | None = None
        if delta.tool_calls:
            tools = [self._restore_tool(choice.index, tool) for tool in delta.tool_calls]
        if finishing:
            tools = self._flushed_tools(choice.index, tools)
        if content == delta.content and tools is None:
            return choice
        new_delta = structs.replace(
            delta, content=content, tool_calls=tools if tools is not None else delta.tool_calls
        )
        return structs.replace(choice, delta=new_delta)

    def _restore_tool(self, index: int, tool: ToolCallDelta) -> ToolCallDelta:
        if tool.function is None or not tool.function.arguments:
            return tool
        key = (index, tool.index)
        channel = self._arguments.get(key)
        if channel is None:
            channel = self._arguments[key] = self._restorer.stream(json_string=True)
        arguments = channel.feed(tool.function.arguments)
        return structs.replace(tool, function=structs.replace(tool.function, arguments=arguments))

    def _flushed_tools(self, index: int, tools: list[ToolCallDelta] | None) -> list[ToolCallDelta] | None:
        held = [(key[1], ch) for key, ch in self._arguments.items() if key[0] == index and ch.holding]
        if not held:
            return tools
        tails = [ToolCallDelta(index=t, function=FunctionCallDelta(arguments=ch.flush())) for t, ch in held]
        return [*(tools or []), *tails]

    def _tail(self, last: ChatChunk | None) -> ChatChunk | None:
        """One extra chunk carrying whatever is still held when the stream ended without a finish."""
        indexes = {i for i, ch in self._content.items() if ch.holding}
        indexes |= {key[0] for key, ch in self._arguments.items() if ch.holding}
        choices: list[ChunkChoice] = []
        for index in sorted(indexes):
            channel = self._content.get(index)
            text = channel.flush() if channel is not None and channel.holding else None
            choices.append(
                ChunkChoice(
                    index=index, delta=Delta(content=text, tool_calls=self._flushed_tools(index, None))
                )
            )
        if not choices:
            return None
        return ChatChunk(
            id=last.id if last else "",
            model=last.model if last else "",
            created=last.created if last else 0,
            choices=choices,
            usage=UNSET,
        )
