"""Shared helpers for the cache tests: requests, calls and a counting stand-in for the upstream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec

from alfred.errors import UpstreamError
from alfred.pipeline.call import Call, Identity, Result
from alfred.schema import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Choice,
    ChunkChoice,
    Delta,
    ResponseMessage,
    Usage,
)


def chat(text: str = "What is the capital of France?", **fields: Any) -> ChatRequest:
    body: dict[str, Any] = {
        "model": "gpt-test",
        "messages": [{"role": "user", "content": text}],
        "temperature": 0,
    }
    body.update(fields)
    return msgspec.convert(body, ChatRequest)


def make_call(
    request: ChatRequest,
    *,
    team: str | None = "team-a",
    headers: dict[str, str] | None = None,
    rid: str = "r1",
) -> Call:
    return Call(rid, "chat", request, headers or {}, identity=Identity(team_id=team))


def answer_text(request: ChatRequest) -> str:
    return f"answer to: {request.messages[-1].text()}"


class ListStream:
    """A ChunkStream over fixed chunks; ``fail_after`` raises mid-stream like a cut upstream."""

    def __init__(self, chunks: list[ChatChunk], fail_after: int | None = None) -> None:
        self._chunks = chunks
        self._fail_after = fail_after
        self.complete = False
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[ChatChunk]:
        for i, chunk in enumerate(self._chunks):
            if self._fail_after is not None and i == self._fail_after:
                raise UpstreamError("upstream cut the stream")
            yield chunk
        self.complete = True

    async def aclose(self) -> None:
        self.closed = True


class Upstream:
    """Answers every call with a text derived from the last user message, and counts the calls.

    Wrap it in ``MeteredHandler`` (as the app does) so usage and outcomes are filled in for real.
    """

    def __init__(self, fail_stream_after: int | None = None) -> None:
        self.calls = 0
        self.fail_stream_after = fail_stream_after

    async def __call__(self, call: Call) -> Result:
        self.calls += 1
        request = call.request
        assert isinstance(request, ChatRequest)
        text = answer_text(request) + f" (#{self.calls})"
        if request.stream:
            pieces = [text[i : i + 7] for i in range(0, len(text), 7)]
            chunks = [
                ChatChunk(
                    id="up-1",
                    model="upstream-model",
                    created=1,
                    choices=[
                        ChunkChoice(index=0, delta=Delta(role="assistant" if i == 0 else None, content=p))
                    ],
                )
                for i, p in enumerate(pieces)
            ]
            chunks.append(
                ChatChunk(
                    id="up-1",
                    model="upstream-model",
                    created=1,
                    choices=[ChunkChoice(index=0, delta=Delta(), finish_reason="stop")],
                )
            )
            return ListStream(chunks, self.fail_stream_after)
        return ChatResponse(
            id="up-1",
            model="upstream-model",
            created=1,
            choices=[Choice(index=0, message=ResponseMessage(content=text))],
            usage=Usage(10, 5, 15),
        )


async def drain(result: Result) -> list[ChatChunk]:
    assert not isinstance(result, ChatResponse)
    return [chunk async for chunk in result]  # type: ignore[union-attr]


async def finish(call: Call) -> None:
    """What the API layer does once the response is delivered: run the finish hooks."""
    for hook in call.finish_hooks:
        await hook(call)
