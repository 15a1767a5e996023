"""Cached answers replayed as streams, and streams folded back into answers."""

from __future__ import annotations

import json

import msgspec

from alfred.api.openai import sse_frames
from alfred.cache.replay import ReplayStream, collect, replay_chunks
from alfred.pipeline.call import Call
from alfred.schema import ChatResponse, Choice, FunctionCall, ResponseMessage, ToolCall, Usage
from tests.unit.cache.support import chat


def response() -> ChatResponse:
    return ChatResponse(
        id="chatcmpl-1",
        model="gpt-4o-mini",
        created=123,
        choices=[
            Choice(index=0, message=ResponseMessage(content="The capital of France is Paris. " * 5)),
            Choice(
                index=1,
                message=ResponseMessage(
                    content=None,
                    tool_calls=[
                        ToolCall(
                            id="call_1", function=FunctionCall(name="lookup", arguments='{"city": "Paris"}')
                        ),
                        ToolCall(id="call_2", function=FunctionCall(name="weather", arguments="{}")),
                    ],
                ),
                finish_reason="tool_calls",
            ),
        ],
        usage=Usage(5, 40, 45),
        system_fingerprint="fp_1",
    )


def test_replay_then_collect_gives_the_answer_back() -> None:
    original = response()
    chunks = list(replay_chunks(original, chunk_chars=10))
    assert len([c for c in chunks if c.choices[0].index == 0]) > 10  # text really is chunked
    rebuilt = collect(chunks, usage=original.usage)  # type: ignore[arg-type]
    assert rebuilt == original


def test_collect_joins_tool_call_fragments_like_providers_send_them() -> None:
    stream = [
        {"id": "c", "model": "m", "created": 1, "choices": [{"index": 0, "delta": {"role": "assistant"}}]},
        {
            "id": "c",
            "model": "m",
            "created": 1,
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_9",
                                "type": "function",
                                "function": {"name": "f", "arguments": '{"a"'},
                            }
                        ]
                    },
                }
            ],
        },
        # Mistral-style: a later fragment repeating a bogus id must not change the first one.
        {
            "id": "c",
            "model": "m",
            "created": 1,
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "id": "null", "function": {"arguments": ": 1}"}}]},
                }
            ],
        },
        {
            "id": "c",
            "model": "m",
            "created": 1,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}],
        },
    ]
    from alfred.schema import ChatChunk

    chunks = [msgspec.convert(c, ChatChunk) for c in stream]
    rebuilt = collect(chunks)
    assert rebuilt is not None
    call = rebuilt.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.id == "call_9" and call.function.name == "f" and call.function.arguments == '{"a": 1}'
    assert rebuilt.choices[0].finish_reason == "tool_calls"


def test_collect_of_nothing_is_nothing() -> None:
    assert collect([]) is None


async def test_replay_renders_as_valid_openai_sse() -> None:
    request = chat(stream=True, stream_options={"include_usage": True})
    call = Call("req-1", "chat", request, {})
    call.usage = Usage()
    frames = [f async for f in sse_frames(ReplayStream(response(), 16), call, request)]
    assert frames[-1] == b"data: [DONE]\n\n"
    events = [json.loads(f[len(b"data: ") :]) for f in frames[:-1]]
    assert all(e["object"] == "chat.completion.chunk" for e in events)
    assert all(e["usage"] is None for e in events[:-1])
    assert events[-1]["choices"] == [] and events[-1]["usage"]["total_tokens"] == 0
    text = "".join(
        e["choices"][0]["delta"].get("content") or "" for e in events[:-1] if e["choices"][0]["index"] == 0
    )
    assert text == response().choices[0].message.content
    tools = [
        t
        for e in events[:-1]
        for t in e["choices"][0]["delta"].get("tool_calls") or []
        if e["choices"][0]["index"] == 1
    ]
    assert [t["id"] for t in tools] == ["call_1", "call_2"] and tools[0]["type"] == "function"


async def test_a_closed_replay_stops() -> None:
    stream = ReplayStream(response(), 4)
    seen = 0
    async for _ in stream:
        seen += 1
        if seen == 2:
            await stream.aclose()
    assert seen == 2 and not stream.complete
