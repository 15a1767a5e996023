from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from alfred.errors import UpstreamError
from alfred.safety.masking import Restorer
from alfred.safety.streaming import RestoringStream
from alfred.schema import ChatChunk, ChunkChoice, Delta, FunctionCallDelta, ToolCallDelta


def chunk(
    content: str | None = None, finish: str | None = None, index: int = 0, args: str | None = None
) -> ChatChunk:
    tools = [ToolCallDelta(index=0, function=FunctionCallDelta(arguments=args))] if args is not None else None
    return ChatChunk(
        id="c1",
        model="m",
        created=1,
        choices=[
            ChunkChoice(index=index, delta=Delta(content=content, tool_calls=tools), finish_reason=finish)
        ],
    )


class FakeStream:
    def __init__(self, chunks: list[ChatChunk], fail: bool = False) -> None:
        self.chunks = chunks
        self.fail = fail
        self.complete = False
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[ChatChunk]:
        for item in self.chunks:
            yield item
        if self.fail:
            raise UpstreamError("upstream cut")
        self.complete = True

    async def aclose(self) -> None:
        self.closed = True


RESTORER = Restorer({"<EMAIL_1>": "ann@x.io", "<CARD_1>": "4111 1111 1111 1111"})


async def collect(stream: RestoringStream) -> list[ChatChunk]:
    return [c async for c in stream]


def texts(chunks: list[ChatChunk]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


async def test_placeholder_split_across_chunks_is_restored_and_flushed_on_finish() -> None:
    source = [
        chunk("Write to <EMA"),
        chunk("IL_1> or pay with <CA"),
        chunk("RD_1"),
        chunk("> now <", finish="stop"),
    ]
    out = await collect(RestoringStream(FakeStream(source), RESTORER))
    assert texts(out) == "Write to ann@x.io or pay with 4111 1111 1111 1111 now <"
    assert out[0].choices[0].delta.content == "Write to "  # only the possible prefix was held


async def test_chunks_are_copied_not_edited_in_place() -> None:
    source = [chunk("hi <EMAIL_1>", finish="stop")]
    out = await collect(RestoringStream(FakeStream(source), RESTORER))
    assert out[0].choices[0].delta.content == "hi ann@x.io"
    assert source[0].choices[0].delta.content == "hi <EMAIL_1>"


async def test_tool_call_arguments_are_restored_as_json() -> None:
    source = [chunk(args='{"to": "<EMA'), chunk(args='IL_1>"}'), chunk(finish="tool_calls")]
    out = await collect(RestoringStream(FakeStream(source), RESTORER))
    args = "".join(
        t.function.arguments or ""
        for c in out
        for ch in c.choices
        for t in (ch.delta.tool_calls or ())
        if t.function
    )
    assert args == '{"to": "ann@x.io"}'


async def test_stream_ending_without_finish_gets_a_tail_chunk() -> None:
    inner = FakeStream([chunk("see <EMAIL_")])
    stream = RestoringStream(inner, RESTORER)
    out = await collect(stream)
    assert texts(out) == "see <EMAIL_"
    assert len(out) == 2 and out[1].id == "c1"
    assert stream.complete


async def test_held_text_is_released_before_an_upstream_error() -> None:
    stream = RestoringStream(FakeStream([chunk("x <CARD")], fail=True), RESTORER)
    seen: list[ChatChunk] = []
    with pytest.raises(UpstreamError):
        async for item in stream:
            seen.append(item)
    assert texts(seen) == "x <CARD"
    assert not stream.complete


async def test_aclose_reaches_the_upstream() -> None:
    inner = FakeStream([])
    await RestoringStream(inner, RESTORER).aclose()
    assert inner.closed
