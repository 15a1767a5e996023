"""The Anthropic Messages API adapter: golden fixtures both ways, streams in awkward splits, errors,
and round trips against the Anthropic mock upstream (in process)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from starlette.applications import Starlette

from alfred.errors import (
    AlfredError,
    InvalidRequestError,
    RateLimitError,
    ServiceUnavailableError,
    UpstreamError,
)
from alfred.mock.anthropic import routes
from alfred.mock.state import Fault, MockState
from alfred.providers.anthropic import AnthropicAdapter
from alfred.providers.base import Endpoint, UpstreamRequest
from alfred.schema import ChatChunk, ChatRequest, ChatResponse, Choice, Usage

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "anthropic"
ENDPOINT = Endpoint(
    provider="anthropic-main",
    kind="anthropic",
    base_url="https://api.anthropic.com",
    model="claude-3-5-haiku-20241022",
    api_key="sk-ant-test",
)
adapter = AnthropicAdapter()


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def canonical(data: dict[str, Any]) -> ChatRequest:
    return msgspec.convert(data, ChatRequest)


# -- canonical → wire ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "case",
    ["plain", "system", "tools", "tool_results", "images", "json_schema", "json_object", "params"],
)
def test_request_golden(case: str) -> None:
    golden = fixture(f"request_{case}.json")
    upstream = adapter.chat_request(canonical(golden["openai"]), ENDPOINT)
    assert upstream.method == "POST"
    assert upstream.url == "https://api.anthropic.com/v1/messages"
    assert upstream.stream is bool(golden["openai"].get("stream"))
    assert upstream.body is not None
    assert json.loads(upstream.body) == golden["anthropic"]


def test_request_headers() -> None:
    endpoint = Endpoint(
        provider="a",
        kind="anthropic",
        base_url="https://gateway.example/anthropic/",
        model="claude-3-5-haiku-20241022",
        api_key="sk-ant-secret",
        headers={"anthropic-beta": "prompt-caching-2024-07-31"},
    )
    upstream = adapter.chat_request(canonical(fixture("request_plain.json")["openai"]), endpoint)
    assert upstream.url == "https://gateway.example/anthropic/v1/messages"
    assert upstream.headers == {
        "content-type": "application/json",
        "anthropic-version": "2023-06-01",
        "x-api-key": "sk-ant-secret",
        "anthropic-beta": "prompt-caching-2024-07-31",
    }
    assert "authorization" not in upstream.headers


def test_tool_choice_none_and_parallel_off_without_choice() -> None:
    tools = [{"type": "function", "function": {"name": "f"}}]
    base = {"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": tools}
    none = _wire({**base, "tool_choice": "none"})
    assert none["tool_choice"] == {"type": "none"}
    serial = _wire({**base, "parallel_tool_calls": False})
    assert serial["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


def test_a_user_turn_starting_with_text_puts_tool_results_first() -> None:
    data = fixture("request_tool_results.json")["openai"]
    messages = data["messages"]
    # A stray user text between the tool call and its results: results must still open the turn.
    reordered = [*messages[:2], {"role": "user", "content": "quick!"}, *messages[2:4]]
    turn = _wire({**data, "messages": reordered})["messages"][2]
    assert [block["type"] for block in turn["content"]] == ["tool_result", "tool_result", "text"]


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"n": 2}, "n"),
        ({"messages": [{"role": "system", "content": "only a system prompt"}]}, "messages"),
        ({"messages": [{"role": "function", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}
                ]
            },
            "messages[0].content[0]",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "t", "function": {"name": "f", "arguments": "[1, 2]"}}],
                    }
                ]
            },
            "messages[0].tool_calls[0].function.arguments",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "sometimes"},
            "tool_choice",
        ),
    ],
)
def test_requests_anthropic_cannot_take_are_refused_before_sending(patch: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        _wire({"model": "m", "messages": [{"role": "user", "content": "x"}], **patch})
    assert info.value.status == 400
    assert info.value.param == param


def test_embeddings_are_not_supported() -> None:
    from alfred.schema import EmbeddingRequest

    with pytest.raises(InvalidRequestError) as info:
        adapter.embeddings_request(EmbeddingRequest(model="m", input="x"), ENDPOINT)
    assert info.value.code == "unsupported_endpoint"


def _wire(data: dict[str, Any]) -> dict[str, Any]:
    body = adapter.chat_request(canonical(data), ENDPOINT).body
    assert body is not None
    result: dict[str, Any] = json.loads(body)
    return result


# -- wire → canonical ---------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["text", "tool_use", "max_tokens_thinking", "stop_sequence", "refusal"])
def test_response_golden(case: str) -> None:
    golden = fixture(f"response_{case}.json")
    response = adapter.chat_response(json.dumps(golden["anthropic"]).encode(), ENDPOINT)
    assert isinstance(response, ChatResponse)
    got = msgspec.to_builtins(response)
    expected = golden["openai"]
    assert got["id"] == expected["id"]
    assert got["model"] == expected["model"]
    assert got["object"] == "chat.completion"
    # As canonical structs, so defaults (tool call type "function", zero counts) compare equal.
    assert response.choices == msgspec.convert(expected["choices"], list[Choice])
    assert response.usage == msgspec.convert(expected["usage"], Usage)


def test_malformed_response_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamError) as info:
        adapter.chat_response(b"<html>bad gateway</html>", ENDPOINT)
    assert "anthropic-main" in info.value.message


# -- streams ------------------------------------------------------------------------------------
def decode(raw: bytes, step: int | None) -> tuple[list[ChatChunk], bool]:
    decoder = adapter.chat_stream(ENDPOINT)
    chunks: list[ChatChunk] = []
    pieces = [raw] if step is None else [raw[i : i + step] for i in range(0, len(raw), step)]
    for piece in pieces:
        chunks.extend(decoder.feed(piece))
    chunks.extend(decoder.close())
    return chunks, decoder.finished


def assemble(chunks: list[ChatChunk]) -> dict[str, Any]:
    text = ""
    finish = None
    usage = None
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        if chunk.usage:
            assert chunk.choices == []
            usage = msgspec.to_builtins(chunk.usage)
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
            for call in choice.delta.tool_calls or []:
                entry = calls.setdefault(call.index, {"index": call.index, "arguments": ""})
                if call.id:
                    assert "id" not in entry, "a tool call's id is sent once"
                    entry["id"] = call.id
                if call.function and call.function.name:
                    entry["name"] = call.function.name
                if call.function and call.function.arguments:
                    entry["arguments"] += call.function.arguments
    return {
        "text": text,
        "tool_calls": [calls[i] for i in sorted(calls)],
        "finish_reason": finish,
        "usage": usage,
    }


def _normalised(chunks: list[ChatChunk]) -> list[Any]:
    return [{**msgspec.to_builtins(c), "created": 0} for c in chunks]


@pytest.mark.parametrize("case", ["text", "tool_use", "thinking_two_tools_padded"])
def test_stream_golden_in_any_split(case: str) -> None:
    raw = (FIXTURES / f"stream_{case}.txt").read_bytes()
    whole, finished = decode(raw, None)
    assert finished
    for step in (1, 2, 7, 64):
        split, split_finished = decode(raw, step)
        assert split_finished
        assert _normalised(split) == _normalised(whole)
    assert assemble(whole) == fixture(f"stream_{case}.expected.json")
    first = whole[0]
    assert first.choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in whole[1:] if c.choices)
    # finish_reason sits on the last content chunk, before the usage chunk.
    assert whole[-1].choices == [] and whole[-1].usage
    assert whole[-2].choices[0].finish_reason is not None
    assert all(c.id == first.id and c.id.startswith("msg_") for c in whole)


def test_stream_tool_call_first_fragment_carries_id_type_and_name_only_once() -> None:
    chunks, _ = decode((FIXTURES / "stream_tool_use.txt").read_bytes(), None)
    fragments = [call for c in chunks for ch in c.choices for call in ch.delta.tool_calls or []]
    assert fragments[0].id == "toolu_01NRLabsLyVHZPKxbKvkfSMn"
    assert fragments[0].type == "function"
    assert fragments[0].function is not None and fragments[0].function.name == "get_weather"
    assert all(
        f.id is None and f.type is None and f.function and f.function.name is None for f in fragments[1:]
    )
    assert all(f.function and f.function.arguments for f in fragments[1:]), "empty partial_json is not sent"


def test_stream_error_event_raises_with_the_providers_message() -> None:
    raw = (FIXTURES / "stream_error_overloaded.txt").read_bytes()
    decoder = adapter.chat_stream(ENDPOINT)
    head, _, tail = raw.partition(b"event: error")
    chunks = decoder.feed(head)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Sure, here"
    with pytest.raises(ServiceUnavailableError) as info:
        for byte in range(len(tail) + 12):
            decoder.feed((b"event: error" + tail)[byte : byte + 1])
    assert info.value.message == "anthropic-main: Overloaded"
    assert info.value.retryable is False
    assert not decoder.finished


def test_other_stream_errors_are_upstream_errors() -> None:
    decoder = adapter.chat_stream(ENDPOINT)
    event = b'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"Internal server error"}}\n\n'
    with pytest.raises(UpstreamError) as info:
        decoder.feed(event)
    assert info.value.status == 502
    assert info.value.code == "upstream_api_error"
    assert "Internal server error" in info.value.message
    assert info.value.retryable is False


def test_cut_stream_is_not_finished() -> None:
    chunks, finished = decode((FIXTURES / "stream_cut.txt").read_bytes(), 5)
    assert not finished
    assert assemble(chunks)["text"] == "Once upon"
    assert all(c.usage is msgspec.UNSET for c in chunks)


def test_malformed_stream_event_raises() -> None:
    with pytest.raises(UpstreamError):
        adapter.chat_stream(ENDPOINT).feed(b"event: content_block_delta\ndata: {not json\n\n")


# -- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "status", "cls", "code", "http"),
    [
        ("error_rate_limit.json", 429, RateLimitError, "upstream_rate_limited", 429),
        ("error_overloaded.json", 529, ServiceUnavailableError, "upstream_overloaded", 503),
        ("error_prompt_too_long.json", 400, InvalidRequestError, "context_length_exceeded", 400),
        ("error_authentication.json", 401, UpstreamError, "upstream_authentication_error", 502),
        ("error_not_found.json", 404, InvalidRequestError, "not_found", 404),
        ("error_api.json", 500, UpstreamError, "upstream_error", 502),
    ],
)
def test_error_bodies(name: str, status: int, cls: type[AlfredError], code: str, http: int) -> None:
    body = (FIXTURES / name).read_bytes()
    err = adapter.map_error(status, {"retry-after": "17"}, body)
    assert isinstance(err, cls)
    assert err.status == http
    assert err.code == code
    assert err.message == f"anthropic: {json.loads(body)['error']['message']}"
    if status in (429, 529):
        assert err.headers["retry-after"] == "17"
        assert err.retryable


def test_non_json_error_body_keeps_its_text() -> None:
    err = adapter.map_error(502, {}, b"upstream connect error or disconnect/reset before headers")
    assert err.status == 502
    assert "upstream connect error" in err.message


# -- round trips against the mock ---------------------------------------------------------------
MOCK = Endpoint(
    provider="anthropic",
    kind="anthropic",
    base_url="http://mock.test",
    model="claude-3-5-haiku-20241022",
    api_key="sk-ant-mock",
)
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}


@pytest.fixture
def state() -> MockState:
    return MockState()


async def send(state: MockState, upstream: UpstreamRequest) -> httpx.Response:
    app = Starlette(routes=routes(state))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport) as client:
        return await client.request(
            upstream.method, upstream.url, headers=upstream.headers, content=upstream.body
        )


async def complete(state: MockState, data: dict[str, Any]) -> ChatResponse:
    response = await send(state, adapter.chat_request(canonical({"model": "claude-3-5-haiku", **data}), MOCK))
    if response.status_code != 200:
        raise adapter.map_error(response.status_code, dict(response.headers), response.content)
    return adapter.chat_response(response.content, MOCK)


async def stream(state: MockState, data: dict[str, Any]) -> tuple[list[ChatChunk], bool]:
    request = canonical({"model": "claude-3-5-haiku", "stream": True, **data})
    response = await send(state, adapter.chat_request(request, MOCK))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return decode(response.content, 13)


async def test_mock_round_trip_text(state: MockState) -> None:
    result = await complete(
        state,
        {
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "hello gateway"},
            ]
        },
    )
    message = result.choices[0].message
    assert "hello gateway" in (message.content or "")
    assert result.choices[0].finish_reason == "stop"
    assert result.id.startswith("msg_")
    assert result.usage and result.usage.completion_tokens == len((message.content or "").split())
    assert state.last_request is not None
    assert state.last_request["system"] == "be brief"
    assert state.last_headers["anthropic-version"] == "2023-06-01"
    assert state.last_headers["x-api-key"] == "sk-ant-mock"


async def test_mock_round_trip_stream_and_usage(state: MockState) -> None:
    chunks, finished = await stream(state, {"messages": [{"role": "user", "content": "stream me please"}]})
    assert finished
    result = assemble(chunks)
    assert "stream me please" in result["text"]
    assert result["finish_reason"] == "stop"
    assert result["usage"]["completion_tokens"] == len(result["text"].split())
    assert (
        result["usage"]["total_tokens"]
        == result["usage"]["prompt_tokens"] + result["usage"]["completion_tokens"]
    )
    assert state.streams_completed == 1


async def test_mock_round_trip_tools(state: MockState) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "weather in Paris?"}]
    first = await complete(state, {"messages": messages, "tools": [WEATHER]})
    assert first.choices[0].finish_reason == "tool_calls"
    calls = first.choices[0].message.tool_calls
    assert isinstance(calls, list) and calls[0].id.startswith("toolu_")
    assert json.loads(calls[0].function.arguments) == {"location": "Paris"}
    messages.append(msgspec.to_builtins(first.choices[0].message))
    messages.append({"role": "tool", "tool_call_id": calls[0].id, "content": "sunny, 21C"})
    second = await complete(state, {"messages": messages, "tools": [WEATHER]})
    assert "sunny, 21C" in (second.choices[0].message.content or "")
    assert state.last_request is not None
    assert state.last_request["messages"][2]["content"][0]["type"] == "tool_result"


async def test_mock_round_trip_streamed_tool_call(state: MockState) -> None:
    data = {
        "messages": [{"role": "user", "content": "weather?"}],
        "tools": [WEATHER],
        "tool_choice": "required",
    }
    chunks, finished = await stream(state, data)
    assert finished
    result = assemble(chunks)
    assert result["finish_reason"] == "tool_calls"
    assert [c["name"] for c in result["tool_calls"]] == ["get_weather"]
    assert json.loads(result["tool_calls"][0]["arguments"]) == {"location": "Paris"}


async def test_mock_round_trip_limits_stops_images_and_schema(state: MockState) -> None:
    cut = await complete(state, {"messages": [{"role": "user", "content": "say a lot"}], "max_tokens": 3})
    assert cut.choices[0].finish_reason == "length"
    assert cut.usage and cut.usage.completion_tokens == 3
    stopped = await complete(
        state, {"messages": [{"role": "user", "content": "alpha beta"}], "stop": ["model", "\n"]}
    )
    assert stopped.choices[0].finish_reason == "stop"
    assert "model" not in (stopped.choices[0].message.content or "")
    assert state.last_request is not None and state.last_request["stop_sequences"] == ["model"]
    images = fixture("request_images.json")["openai"]
    seen = await complete(state, {"messages": images["messages"]})
    assert "Compare these two images." in (seen.choices[0].message.content or "")
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    structured = await complete(
        state,
        {
            "messages": [{"role": "user", "content": "a city"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "c", "schema": schema}},
        },
    )
    assert json.loads(structured.choices[0].message.content or "")["city"]


async def test_mock_fault_statuses_map_to_errors(state: MockState) -> None:
    state.fault = Fault(status=429, retry_after=3, count=1)
    with pytest.raises(RateLimitError) as limited:
        await complete(state, {"messages": [{"role": "user", "content": "x"}]})
    assert limited.value.headers["retry-after"] == "3"
    assert "mock fault" in limited.value.message
    state.fault = Fault(status=529, count=1)
    with pytest.raises(ServiceUnavailableError) as overloaded:
        await complete(state, {"messages": [{"role": "user", "content": "x"}]})
    assert overloaded.value.code == "upstream_overloaded"
    assert (await complete(state, {"messages": [{"role": "user", "content": "x"}]})).choices


async def test_mock_requires_anthropic_headers(state: MockState) -> None:
    upstream = adapter.chat_request(
        canonical({"model": "m", "messages": [{"role": "user", "content": "x"}]}), MOCK
    )
    no_key = {k: v for k, v in upstream.headers.items() if k != "x-api-key"}
    response = await send(state, UpstreamRequest("POST", upstream.url, no_key, upstream.body))
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    mapped = adapter.map_error(401, dict(response.headers), response.content)
    assert mapped.status == 502 and mapped.code == "upstream_authentication_error"
    no_version = {k: v for k, v in upstream.headers.items() if k != "anthropic-version"}
    response = await send(state, UpstreamRequest("POST", upstream.url, no_version, upstream.body))
    assert response.status_code == 400
    assert "anthropic-version" in response.json()["error"]["message"]


async def test_mock_rejects_what_anthropic_rejects(state: MockState) -> None:
    body = {"model": "claude", "messages": [{"role": "user", "content": "x"}]}
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01", "content-type": "application/json"}
    for bad, needle in [
        (body, "max_tokens"),
        ({**body, "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}, "role"),
        ({**body, "max_tokens": 5, "stop_sequences": ["\n"]}, "non-whitespace"),
        (
            {
                **body,
                "max_tokens": 5,
                "messages": [
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}],
                    },
                    {"role": "user", "content": "no result"},
                ],
            },
            "tool_result",
        ),
    ]:
        response = await send(
            state, UpstreamRequest("POST", "http://mock.test/v1/messages", headers, json.dumps(bad).encode())
        )
        assert response.status_code == 400
        error = response.json()
        assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
        assert needle in error["error"]["message"]


async def test_mock_stream_error_event_raises_mid_stream(state: MockState) -> None:
    request = canonical(
        {"model": "m", "stream": True, "messages": [{"role": "user", "content": "go mock:stream_error"}]}
    )
    response = await send(state, adapter.chat_request(request, MOCK))
    assert b"event: error" in response.content
    with pytest.raises(ServiceUnavailableError, match="Overloaded"):
        decode(response.content, 9)


async def test_mock_dropped_stream_is_not_finished(state: MockState) -> None:
    state.fault = Fault(drop_after_chunks=4)
    chunks, finished = await stream(state, {"messages": [{"role": "user", "content": "mock:words=20"}]})
    assert not finished
    assert assemble(chunks)["usage"] is None
