"""Cohere v2 adapter: golden requests out, responses and streams in, errors, and a round trip to the mock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from starlette.applications import Starlette

from alfred.errors import AuthenticationError, InvalidRequestError, RateLimitError, UpstreamError
from alfred.mock import cohere as cohere_mock
from alfred.mock.replies import count_tokens
from alfred.mock.state import Fault, MockState
from alfred.providers.base import Endpoint, UpstreamRequest
from alfred.providers.cohere import CohereAdapter
from alfred.schema import ChatChunk, ChatRequest, EmbeddingRequest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "cohere"
REQUESTS = json.loads((FIXTURES / "requests.json").read_text())
ENDPOINT = Endpoint(
    provider="cohere-main",
    kind="cohere",
    base_url="https://api.cohere.com/",
    model="command-r-08-2024",
    api_key="co-123",
)
adapter = CohereAdapter()


def chat(**fields: Any) -> ChatRequest:
    return msgspec.convert(
        {"model": "command-r", "messages": [{"role": "user", "content": "hi"}], **fields}, ChatRequest
    )


def decode(raw: bytes, split: int | None = None) -> tuple[list[ChatChunk], bool]:
    decoder = adapter.chat_stream(ENDPOINT)
    pieces = [raw] if split is None else [raw[i : i + split] for i in range(0, len(raw), split)]
    chunks: list[ChatChunk] = []
    for piece in pieces:
        chunks.extend(decoder.feed(piece))
    chunks.extend(decoder.close())
    return chunks, decoder.finished


def comparable(chunks: list[ChatChunk]) -> list[dict[str, Any]]:
    return [{**msgspec.to_builtins(c), "created": 0} for c in chunks]


def text_of(chunks: list[ChatChunk]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def finish_of(chunks: list[ChatChunk]) -> list[str]:
    return [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]


def tool_calls_of(chunks: list[ChatChunk]) -> dict[int, dict[str, Any]]:
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or ():
                call = calls.setdefault(delta.index, {"ids": [], "names": [], "arguments": ""})
                if delta.id:
                    call["ids"].append(delta.id)
                if delta.function and delta.function.name:
                    call["names"].append(delta.function.name)
                if delta.function and delta.function.arguments:
                    call["arguments"] += delta.function.arguments
    return calls


# -- requests ------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(REQUESTS))
def test_request_matches_golden_body(case: str) -> None:
    request = msgspec.convert(REQUESTS[case]["canonical"], ChatRequest)
    out = adapter.chat_request(request, ENDPOINT)
    assert out.method == "POST"
    assert out.url == "https://api.cohere.com/v2/chat"
    assert out.headers["authorization"] == "Bearer co-123"
    assert out.headers["content-type"] == "application/json"
    assert out.headers["accept"] == ("text/event-stream" if request.stream else "application/json")
    assert out.stream is request.stream
    assert json.loads(out.body or b"") == REQUESTS[case]["wire"]


def test_configured_headers_are_added() -> None:
    endpoint = Endpoint(
        "c", "cohere", "https://api.cohere.com", "command-r", api_key="k", headers={"x-client-name": "alfred"}
    )
    assert adapter.chat_request(chat(), endpoint).headers["x-client-name"] == "alfred"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"n": 2}, "n"),
        ({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}, "messages[0].content"),
        ({"messages": [{"role": "function", "name": "f", "content": "x"}]}, "messages[0].role"),
        (
            {
                "tools": [{"function": {"name": "a"}}],
                "tool_choice": {"type": "function", "function": {"name": "b"}},
            },
            "tool_choice",
        ),
        ({"response_format": {"type": "xml"}}, "response_format"),
    ],
)
def test_requests_cohere_cannot_take_are_rejected_before_the_trip(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        adapter.chat_request(chat(**fields), ENDPOINT)
    assert info.value.param == param
    assert info.value.status == 400


def test_tool_choice_without_tools_is_not_sent() -> None:
    body = json.loads(adapter.chat_request(chat(tool_choice="required"), ENDPOINT).body or b"")
    assert "tool_choice" not in body and "tools" not in body


# -- responses -----------------------------------------------------------------------------------
def test_text_response_bills_from_tokens_not_billed_units() -> None:
    response = adapter.chat_response((FIXTURES / "response_text.json").read_bytes(), ENDPOINT)
    assert response.id == "c14c80c3-18eb-4519-9460-6c92edd8cfb4"
    assert response.model == "command-r-08-2024"
    choice = response.choices[0]
    assert choice.message.content and choice.message.content.startswith("LLMs, or Large Language Models")
    assert choice.message.tool_calls is msgspec.UNSET
    assert choice.finish_reason == "stop"
    assert msgspec.to_builtins(response.usage) == {
        "prompt_tokens": 71,
        "completion_tokens": 17,
        "total_tokens": 88,
    }
    wire = json.loads(msgspec.json.encode(response))
    assert wire["object"] == "chat.completion" and "tool_calls" not in wire["choices"][0]["message"]


def test_tool_call_response_keeps_ids_and_string_arguments_and_plan_as_content() -> None:
    response = adapter.chat_response((FIXTURES / "response_tool_call.json").read_bytes(), ENDPOINT)
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "I will look up the weather in Toronto."
    calls = choice.message.tool_calls
    assert not isinstance(calls, msgspec.UnsetType)
    assert [c.id for c in calls] == ["get_weather_1byjy32y4hvq", "get_weather_e4y7nqfsy2mc"]
    assert [json.loads(c.function.arguments)["location"] for c in calls] == ["Toronto", "Montreal"]
    assert response.usage.prompt_tokens == 921  # type: ignore[union-attr]


def test_max_tokens_response_with_float_counts() -> None:
    response = adapter.chat_response((FIXTURES / "response_max_tokens.json").read_bytes(), ENDPOINT)
    assert response.choices[0].finish_reason == "length"
    usage = response.usage
    assert not isinstance(usage, msgspec.UnsetType)
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (72, 5, 77)
    assert all(isinstance(v, int) for v in (usage.prompt_tokens, usage.completion_tokens))


def test_malformed_response_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamError):
        adapter.chat_response(b"<html>bad gateway</html>", ENDPOINT)


# -- streams -------------------------------------------------------------------------------------
STREAMS = ["stream_text.txt", "stream_tool_call.txt", "stream_tool_call_legacy.txt", "stream_thinking.txt"]


@pytest.mark.parametrize("name", STREAMS)
def test_any_split_gives_the_same_chunks(name: str) -> None:
    raw = (FIXTURES / name).read_bytes()
    whole, finished = decode(raw)
    assert finished
    for split in (1, 3, 64):
        chunks, finished = decode(raw, split)
        assert finished
        assert comparable(chunks) == comparable(whole)
    crlf, _ = decode(raw.replace(b"\n", b"\r\n"), 5)
    assert comparable(crlf) == comparable(whole)


def test_text_stream_looks_like_openai() -> None:
    chunks, finished = decode((FIXTURES / "stream_text.txt").read_bytes(), 1)
    assert finished
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in chunks[1:] if c.choices)
    assert all(c.id == "586ac33f-9c64-452c-8f8d-e5890e73b6fb" for c in chunks)
    assert text_of(chunks) == "Hello, World! ünïcödé ✓"
    assert finish_of(chunks) == ["stop"]
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert msgspec.to_builtins(chunks[-1].usage) == {
        "prompt_tokens": 34,
        "completion_tokens": 12,
        "total_tokens": 46,
    }


def test_tool_call_stream_sends_id_and_name_once_then_argument_fragments() -> None:
    chunks, _ = decode((FIXTURES / "stream_tool_call.txt").read_bytes())
    calls = tool_calls_of(chunks)
    assert calls[0]["ids"] == ["get_weather_nsz5zm3w56q3"] and calls[0]["names"] == ["get_weather"]
    assert json.loads(calls[0]["arguments"]) == {"location": "Toronto"}
    assert calls[1]["ids"] == ["get_time_0hb5vp7pmx9c"] and json.loads(calls[1]["arguments"]) == {
        "zone": "EST"
    }
    assert text_of(chunks) == "I will search for the weather."  # the tool plan
    assert finish_of(chunks) == ["tool_calls"]
    assert chunks[-1].usage.completion_tokens == 61  # type: ignore[union-attr]


def test_legacy_tool_stream_without_indexes_ending_complete_finishes_with_tool_calls() -> None:
    chunks, finished = decode((FIXTURES / "stream_tool_call_legacy.txt").read_bytes(), 2)
    assert finished
    calls = tool_calls_of(chunks)
    assert list(calls) == [0]
    assert json.loads(calls[0]["arguments"]) == {"ticker_symbol": "AAPL"}
    assert finish_of(chunks) == ["tool_calls"]


def test_thinking_blocks_are_not_answer_text() -> None:
    chunks, _ = decode((FIXTURES / "stream_thinking.txt").read_bytes())
    assert text_of(chunks) == "Hi there"
    assert finish_of(chunks) == ["length"]


def test_in_stream_error_raises_after_the_text_before_it() -> None:
    raw = (FIXTURES / "stream_error.txt").read_bytes()
    decoder = adapter.chat_stream(ENDPOINT)
    head, tail = raw.split(b"event: message-end")
    assert text_of(decoder.feed(head)) == "Partial"
    with pytest.raises(UpstreamError) as info:
        decoder.feed(b"event: message-end" + tail)
    assert "internal server error" in info.value.message
    assert not info.value.retryable
    assert not decoder.finished


def test_bare_error_body_in_stream_raises() -> None:
    with pytest.raises(UpstreamError, match="too many tokens"):
        decode(b'data: {"message":"too many tokens"}\n\n')


def test_cut_stream_is_not_finished_and_has_no_finish_reason() -> None:
    raw = (FIXTURES / "stream_text.txt").read_bytes()
    chunks, finished = decode(raw[: raw.index(b"event: message-end")], 7)
    assert not finished
    assert text_of(chunks) == "Hello, World! ünïcödé ✓"
    assert finish_of(chunks) == []


# -- errors --------------------------------------------------------------------------------------
def test_429_keeps_cohere_message_and_retry_after() -> None:
    err = adapter.map_error(429, {"retry-after": "7"}, (FIXTURES / "error_429.json").read_bytes())
    assert isinstance(err, RateLimitError)
    assert err.status == 429 and err.headers == {"retry-after": "7"}
    assert "limited to 10 API calls / minute" in err.message
    assert err.retryable


def test_400_is_the_callers_error() -> None:
    err = adapter.map_error(400, {}, (FIXTURES / "error_400.json").read_bytes())
    assert isinstance(err, InvalidRequestError) and err.status == 400
    assert err.message.endswith("tool results must be specified.")
    assert not err.retryable


def test_401_is_the_gateways_credential_problem_and_5xx_text_is_kept() -> None:
    err = adapter.map_error(401, {}, b'{"message":"invalid api token"}')
    assert not isinstance(err, AuthenticationError)
    assert (
        err.status == 502
        and err.code == "upstream_authentication_error"
        and "invalid api token" in err.message
    )
    err = adapter.map_error(500, {}, b"upstream connect error")
    assert err.status == 502 and "upstream connect error" in err.message


# -- embeddings ----------------------------------------------------------------------------------
def test_embed_request_and_response() -> None:
    out = adapter.embeddings_request(
        EmbeddingRequest(model="cohere-embed", input=["hello", "goodbye"], encoding_format="base64"), ENDPOINT
    )
    assert out.url == "https://api.cohere.com/v2/embed"
    assert json.loads(out.body or b"") == {
        "model": "command-r-08-2024",
        "texts": ["hello", "goodbye"],
        "input_type": "search_document",
        "embedding_types": ["float"],
    }
    one = json.loads(
        adapter.embeddings_request(EmbeddingRequest(model="m", input="x", dimensions=256), ENDPOINT).body
        or b""
    )
    assert one["texts"] == ["x"] and one["output_dimension"] == 256
    response = adapter.embeddings_response((FIXTURES / "embed_response.json").read_bytes(), ENDPOINT)
    assert [e.index for e in response.data] == [0, 1]
    assert response.data[1].embedding[0] == pytest.approx(0.010383606)
    assert response.usage.prompt_tokens == 2


def test_token_id_embedding_inputs_are_refused() -> None:
    with pytest.raises(InvalidRequestError) as info:
        adapter.embeddings_request(EmbeddingRequest(model="m", input=[[1, 2, 3]]), ENDPOINT)
    assert info.value.code == "unsupported_endpoint"


# -- round trip against the mock -----------------------------------------------------------------
@pytest.fixture
def mock() -> tuple[httpx.AsyncClient, MockState]:
    state = MockState()
    app = Starlette(routes=cohere_mock.routes(state))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock")
    return client, state


MOCK_ENDPOINT = Endpoint("cohere", "cohere", "http://mock", "command-r-08-2024", api_key="co-mock")
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}


async def send(client: httpx.AsyncClient, upstream: UpstreamRequest) -> httpx.Response:
    return await client.request(
        upstream.method, upstream.url, headers=upstream.headers, content=upstream.body
    )


async def test_round_trip_text_and_stream(mock: tuple[httpx.AsyncClient, MockState]) -> None:
    client, state = mock
    request = chat(
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hello there cohere"},
        ]
    )
    reply = await send(client, adapter.chat_request(request, MOCK_ENDPOINT))
    assert reply.status_code == 200
    response = adapter.chat_response(reply.content, MOCK_ENDPOINT)
    text = response.choices[0].message.content or ""
    assert "hello there cohere" in text
    assert response.usage.completion_tokens == count_tokens(text)  # type: ignore[union-attr]
    assert response.usage.prompt_tokens == 3 + 4  # type: ignore[union-attr]  # words + one per message

    request.stream = True
    reply = await send(client, adapter.chat_request(request, MOCK_ENDPOINT))
    assert reply.headers["content-type"].startswith("text/event-stream")
    chunks, finished = decode(reply.content, 5)
    assert finished and text_of(chunks) == text
    assert chunks[-1].usage.completion_tokens == count_tokens(text)  # type: ignore[union-attr]
    assert state.streams_completed == 1


async def test_round_trip_tools_and_results(mock: tuple[httpx.AsyncClient, MockState]) -> None:
    client, _ = mock
    request = chat(messages=[{"role": "user", "content": "weather in Paris?"}], tools=[WEATHER])
    first = adapter.chat_response(
        (await send(client, adapter.chat_request(request, MOCK_ENDPOINT))).content, MOCK_ENDPOINT
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert not isinstance(choice.message.tool_calls, msgspec.UnsetType)
    call = choice.message.tool_calls[0]
    assert json.loads(call.function.arguments) == {"location": "Paris"}
    assistant = msgspec.to_builtins(choice.message)
    request.messages += msgspec.convert(
        [assistant, {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"}], list[Any]
    )
    request = msgspec.convert(msgspec.to_builtins(request), ChatRequest)
    second = adapter.chat_response(
        (await send(client, adapter.chat_request(request, MOCK_ENDPOINT))).content, MOCK_ENDPOINT
    )
    assert "sunny, 21C" in (second.choices[0].message.content or "")

    request = chat(messages=[{"role": "user", "content": "weather in Paris?"}], tools=[WEATHER], stream=True)
    chunks, finished = decode((await send(client, adapter.chat_request(request, MOCK_ENDPOINT))).content, 3)
    calls = tool_calls_of(chunks)
    assert finished and len(calls[0]["ids"]) == 1 and calls[0]["names"] == ["get_weather"]
    assert json.loads(calls[0]["arguments"]) == {"location": "Paris"}
    assert finish_of(chunks) == ["tool_calls"]


async def test_round_trip_stop_sequence_and_json_schema(mock: tuple[httpx.AsyncClient, MockState]) -> None:
    client, state = mock
    request = chat(messages=[{"role": "user", "content": "one two three"}], stop=["said"], max_tokens=50)
    raw = await send(client, adapter.chat_request(request, MOCK_ENDPOINT))
    assert raw.json()["finish_reason"] == "STOP_SEQUENCE"
    assert adapter.chat_response(raw.content, MOCK_ENDPOINT).choices[0].finish_reason == "stop"
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    request = chat(response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": schema}})
    raw = await send(client, adapter.chat_request(request, MOCK_ENDPOINT))
    assert state.last_request and state.last_request["response_format"] == {
        "type": "json_object",
        "json_schema": schema,
    }
    assert json.loads(adapter.chat_response(raw.content, MOCK_ENDPOINT).choices[0].message.content or "")[
        "city"
    ]


async def test_round_trip_faults_auth_and_embeddings(mock: tuple[httpx.AsyncClient, MockState]) -> None:
    client, state = mock
    state.fault = Fault(status=429, retry_after=3, count=1)
    raw = await send(client, adapter.chat_request(chat(), MOCK_ENDPOINT))
    err = adapter.map_error(raw.status_code, dict(raw.headers), raw.content)
    assert (
        isinstance(err, RateLimitError)
        and err.headers == {"retry-after": "3"}
        and "mock fault" in err.message
    )

    state.fault = Fault(drop_after_chunks=3, count=1)
    raw = await send(client, adapter.chat_request(chat(stream=True), MOCK_ENDPOINT))
    chunks, finished = decode(raw.content)
    assert not finished and finish_of(chunks) == []

    keyless = Endpoint("cohere", "cohere", "http://mock", "command-r-08-2024")
    raw = await send(client, adapter.chat_request(chat(), keyless))
    err = adapter.map_error(raw.status_code, dict(raw.headers), raw.content)
    assert raw.status_code == 401 and "invalid api token" in err.message

    upstream = adapter.embeddings_request(
        EmbeddingRequest(model="e", input=["one two", "three"]), MOCK_ENDPOINT
    )
    response = adapter.embeddings_response((await send(client, upstream)).content, MOCK_ENDPOINT)
    assert len(response.data) == 2 and len(response.data[0].embedding) == 16
    assert response.usage.prompt_tokens == 3
