"""Anthropic's Messages API at the gateway's edge: requests in, messages and streams out (golden fixtures)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from alfred.api.anthropic_message import message_from_response, messages_error_body, stop_reason
from alfred.api.anthropic_stream import MessageStreamRenderer, message_events
from alfred.api.anthropic_wire import parse_messages_request
from alfred.config import ServerSettings
from alfred.errors import InvalidRequestError, ModelNotFoundError, UpstreamError
from alfred.pipeline import Call
from alfred.schema import ChatChunk, ChatRequest, ChatResponse, Usage

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "messages_api"
LIMITS = ServerSettings()


def fixtures(kind: str, suffix: str = ".json") -> list[Path]:
    return sorted((FIXTURES / kind).glob(f"*{suffix}"))


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def parse(body: dict[str, Any], limits: ServerSettings = LIMITS) -> ChatRequest:
    return parse_messages_request(json.dumps(body).encode(), limits)


def minimal(**fields: Any) -> dict[str, Any]:
    return {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}], **fields}


# -- requests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", fixtures("requests"), ids=lambda p: p.stem)
def test_request_golden(path: Path) -> None:
    case = load(path)
    # Compared as canonical structs, so the fixture may spell defaults (e.g. "type": "function") out.
    assert parse(case["anthropic"]) == msgspec.convert(case["canonical"], ChatRequest)


def test_request_fixtures_exist() -> None:
    assert len(fixtures("requests")) >= 4
    assert len(fixtures("responses")) >= 5
    assert len(fixtures("streams", ".sse")) == len(fixtures("streams")) >= 4


@pytest.mark.parametrize(
    ("choice", "expected", "parallel"),
    [
        ({"type": "auto"}, "auto", None),
        ({"type": "any", "disable_parallel_tool_use": False}, "required", True),
        ({"type": "none"}, "none", None),
        ({"type": "tool", "name": "b"}, {"type": "function", "function": {"name": "b"}}, None),
    ],
)
def test_tool_choice(choice: dict[str, Any], expected: object, parallel: bool | None) -> None:
    tools = [{"name": n, "input_schema": {"type": "object"}} for n in ("a", "b")]
    request = parse(minimal(tools=tools, tool_choice=choice))
    assert request.tool_choice == expected
    assert request.parallel_tool_calls is parallel


def test_tool_choice_without_tools_is_dropped() -> None:
    request = parse(minimal(tool_choice={"type": "auto"}))
    assert request.tools is None and request.tool_choice is None


def test_unknown_nested_fields_are_ignored_and_extra_stays_empty() -> None:
    request = parse(
        minimal(messages=[{"role": "user", "content": [{"type": "text", "text": "x", "citations": None}]}])
    )
    assert request.messages[0].content == "x"
    assert request.extra == {}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}]}, "max_tokens"),
        ({"max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}, "model"),
        ({"model": "m", "max_tokens": 5}, "messages"),
        (minimal(max_tokens="10"), "max_tokens"),
        (minimal(max_tokens=0), "max_tokens"),
        (minimal(model=""), "model"),
        (minimal(messages=[]), "messages"),
        (minimal(messages=[{"role": "system", "content": "x"}]), "messages[0].role"),
        (minimal(messages=[{"role": "user", "content": []}]), "messages[0].content"),
        (minimal(messages=[{"role": "user", "content": 5}]), "messages[0].content"),
        (
            minimal(messages=[{"role": "user", "content": [{"type": "document", "source": {}}]}]),
            "messages[0].content[0].type",
        ),
        (minimal(messages=[{"role": "user", "content": [{"type": "text"}]}]), "messages[0].content[0].text"),
        (
            minimal(
                messages=[
                    {"role": "user", "content": [{"type": "tool_use", "id": "t", "name": "n", "input": {}}]}
                ]
            ),
            "messages[0].content[0].type",
        ),
        (
            minimal(
                messages=[{"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "t"}]}]
            ),
            "messages[0].content[0].type",
        ),
        (
            minimal(messages=[{"role": "user", "content": [{"type": "tool_result", "tool_use_id": ""}]}]),
            "messages[0].content[0].tool_use_id",
        ),
        (
            minimal(
                messages=[
                    {
                        "role": "user",
                        "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}],
                    }
                ]
            ),
            "messages[0].content[0].source.type",
        ),
        (minimal(temperature=1.5), "temperature"),
        (minimal(top_p=-0.1), "top_p"),
        (minimal(top_k=-1), "top_k"),
        (minimal(stop_sequences=["ok", ""]), "stop_sequences[1]"),
        (minimal(stop_sequences="END"), "stop_sequences"),
        (
            minimal(tools=[{"type": "web_search_20250305", "name": "web_search", "input_schema": {}}]),
            "tools[0].type",
        ),
        (
            minimal(tools=[{"name": "a", "input_schema": {}}, {"name": "a", "input_schema": {}}]),
            "tools[1].name",
        ),
        (minimal(tools=[{"name": "a"}]), "tools[0].input_schema"),
        (minimal(tool_choice={"type": "any"}), "tool_choice"),
        (
            minimal(tools=[{"name": "a", "input_schema": {}}], tool_choice={"type": "maybe"}),
            "tool_choice.type",
        ),
        (
            minimal(tools=[{"name": "a", "input_schema": {}}], tool_choice={"type": "tool", "name": "b"}),
            "tool_choice.name",
        ),
        (minimal(output_config={"format": {"type": "regex", "schema": {}}}), "output_config.format.type"),
        (minimal(container="c"), "container"),
        (minimal(stream="yes"), "stream"),
    ],
)
def test_invalid_requests_name_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse(body)
    assert info.value.status == 400
    assert info.value.param == param


def test_message_count_limit() -> None:
    limits = ServerSettings(max_messages=2)
    messages = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ]
    with pytest.raises(InvalidRequestError) as info:
        parse(minimal(messages=messages), limits)
    assert info.value.param == "messages"


@pytest.mark.parametrize("body", [b"", b"[1]", b"{not json"])
def test_bodies_that_are_not_json_objects(body: bytes) -> None:
    with pytest.raises(InvalidRequestError):
        parse_messages_request(body, LIMITS)


# -- responses -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", fixtures("responses"), ids=lambda p: p.stem)
def test_response_golden(path: Path) -> None:
    case = load(path)
    response = msgspec.convert(case["canonical"], ChatResponse)
    usage = msgspec.convert(case["usage"], Usage) if case["usage"] else None
    message = message_from_response(response, usage, case["message_id"])
    assert json.loads(msgspec.json.encode(message)) == case["anthropic"]


def test_tool_arguments_that_are_not_an_object_are_an_upstream_error() -> None:
    response = msgspec.convert(
        {
            "id": "x",
            "created": 0,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "tool_calls",
                    "message": {
                        "role": "assistant",
                        "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "[1, 2"}}],
                    },
                }
            ],
        },
        ChatResponse,
    )
    with pytest.raises(UpstreamError) as info:
        message_from_response(response, None, "msg_x")
    assert "'f'" in info.value.message


@pytest.mark.parametrize(
    ("finish", "tools", "expected"),
    [
        ("stop", False, "end_turn"),
        (None, False, "end_turn"),
        ("length", False, "max_tokens"),
        ("length", True, "max_tokens"),
        ("tool_calls", False, "tool_use"),
        ("stop", True, "tool_use"),
        ("content_filter", False, "refusal"),
    ],
)
def test_stop_reason(finish: str | None, tools: bool, expected: str) -> None:
    assert stop_reason(finish, tools) == expected


def test_error_body_is_both_openai_and_anthropic_shaped() -> None:
    body = json.loads(messages_error_body(ModelNotFoundError("model 'x' not found", param="model"), "req-9"))
    assert body == {
        "type": "error",
        "error": {
            "message": "model 'x' not found",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found",
            "request_id": "req-9",
        },
        "request_id": "req-9",
    }


# -- streams -------------------------------------------------------------------------------------


class FakeStream:
    """Canonical chunks from a list, then optionally a mid-stream failure, as the metered stream gives them."""

    def __init__(self, chunks: list[ChatChunk], error: Exception | None) -> None:
        self._chunks = chunks
        self._error = error
        self.complete = error is None

    async def __aiter__(self) -> AsyncIterator[ChatChunk]:
        for chunk in self._chunks:
            yield chunk
        if self._error is not None:
            raise self._error

    async def aclose(self) -> None:
        return None


async def render(case: dict[str, Any]) -> str:
    request = msgspec.convert(case["request"], ChatRequest)
    call = Call(
        case["request_id"], "messages", request, {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    )
    if case["usage"] is not None:
        call.usage = msgspec.convert(case["usage"], Usage)
    error = None
    if case["error"]:
        error = UpstreamError(case["error"]["message"], code=case["error"]["code"])
    chunks = [msgspec.convert(c, ChatChunk) for c in case["chunks"]]
    out = [frame async for frame in message_events(FakeStream(chunks, error), call, request)]
    return b"".join(out).decode()


@pytest.mark.parametrize("path", fixtures("streams"), ids=lambda p: p.stem)
async def test_stream_golden(path: Path) -> None:
    case = load(path)
    assert await render(case) == path.with_suffix(".sse").read_text()


async def test_non_alfred_failure_mid_stream_still_ends_with_an_error_event() -> None:
    case = load(FIXTURES / "streams" / "cut.json")
    request = msgspec.convert(case["request"], ChatRequest)
    call = Call("req-bug", "messages", request, {})
    chunks = [msgspec.convert(c, ChatChunk) for c in case["chunks"]]
    frames = [f async for f in message_events(FakeStream(chunks, RuntimeError("boom")), call, request)]
    last = frames[-1].decode()
    assert last.startswith("event: error\ndata: ")
    error = json.loads(last.split("data: ", 1)[1])
    assert error["error"]["type"] == "api_error"
    assert "boom" not in error["error"]["message"]  # internals stay in the log


def test_renderer_text_after_tool_opens_a_new_block_and_late_fragments_keep_their_index() -> None:
    def chunk(delta: dict[str, Any]) -> ChatChunk:
        return msgspec.convert(
            {"id": "c", "model": "m", "created": 0, "choices": [{"index": 0, "delta": delta}]}, ChatChunk
        )

    renderer = MessageStreamRenderer("msg_r", "m", 5)
    frames: list[bytes] = []
    frames += renderer.feed(
        chunk({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{"}}]})
    )
    frames += renderer.feed(chunk({"content": "note"}))
    frames += renderer.feed(chunk({"tool_calls": [{"index": 0, "function": {"arguments": "}"}}]}))
    frames += renderer.feed(chunk({"tool_calls": [{"index": 1, "function": {"name": "g"}}]}))
    frames += renderer.finish(Usage(5, 3, 8))
    events = [json.loads(f.decode().split("data: ", 1)[1]) for f in frames]
    summary = [(e["type"], e.get("index")) for e in events]
    assert summary == [
        ("message_start", None),
        ("content_block_start", 0),
        ("content_block_delta", 0),
        ("content_block_stop", 0),
        ("content_block_start", 1),
        ("content_block_delta", 1),
        ("content_block_delta", 0),  # a late fragment of call 0 still goes to block 0
        ("content_block_stop", 1),
        ("content_block_start", 2),
        ("content_block_stop", 2),
        ("message_delta", None),
        ("message_stop", None),
    ]
    assert events[8]["content_block"] == {"type": "tool_use", "id": "toolu_r_1", "name": "g", "input": {}}
    assert events[-2]["delta"]["stop_reason"] == "tool_use"


def test_renderer_ignores_other_choices() -> None:
    chunk = msgspec.convert(
        {"id": "c", "model": "m", "created": 0, "choices": [{"index": 1, "delta": {"content": "other"}}]},
        ChatChunk,
    )
    renderer = MessageStreamRenderer("msg_r", "m", 5)
    frames = renderer.feed(chunk)
    assert len(frames) == 1 and b"message_start" in frames[0]
