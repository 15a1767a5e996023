"""Ollama native adapter: golden requests out, responses and NDJSON streams in, errors, and the mock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from starlette.applications import Starlette

from alfred.errors import InvalidRequestError, NotFoundError, RateLimitError, UpstreamError
from alfred.mock import ollama as ollama_mock
from alfred.mock.replies import count_tokens
from alfred.mock.state import Fault, MockState
from alfred.providers.base import Endpoint, UpstreamRequest
from alfred.providers.ollama import OllamaAdapter
from alfred.schema import ChatChunk, ChatRequest, EmbeddingRequest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ollama"
REQUESTS = json.loads((FIXTURES / "requests.json").read_text())
ENDPOINT = Endpoint(
    provider="ollama-local", kind="ollama", base_url="http://127.0.0.1:11434/", model="llama3.1"
)
adapter = OllamaAdapter()


def chat(**fields: Any) -> ChatRequest:
    return msgspec.convert(
        {"model": "llama3-ollama", "messages": [{"role": "user", "content": "hi"}], **fields}, ChatRequest
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
    """Chunks without the ids this adapter has to make up (Ollama sends none)."""
    out = []
    for chunk in chunks:
        data = msgspec.to_builtins(chunk)
        data["id"] = ""
        for choice in data["choices"]:
            for call in choice["delta"].get("tool_calls", []):
                call["id"] = call["id"][:5]
        out.append(data)
    return out


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
    assert out.url == "http://127.0.0.1:11434/api/chat"
    assert out.headers == {"content-type": "application/json"}  # a local server takes no key
    assert out.stream is request.stream
    assert json.loads(out.body or b"") == REQUESTS[case]["wire"]


def test_non_streaming_request_says_so_explicitly() -> None:
    body = json.loads(adapter.chat_request(chat(), ENDPOINT).body or b"")
    assert body["stream"] is False  # an absent "stream" would get an NDJSON stream back


def test_api_key_is_sent_as_bearer_when_configured() -> None:
    endpoint = Endpoint(
        "o", "ollama", "https://ollama.com", "gpt-oss:120b", api_key="ol-key", headers={"x-t": "1"}
    )
    out = adapter.chat_request(chat(), endpoint)
    assert out.url == "https://ollama.com/api/chat"
    assert out.headers["authorization"] == "Bearer ol-key" and out.headers["x-t"] == "1"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"n": 3}, "n"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}],
                    }
                ]
            },
            "messages[0].content",
        ),
        ({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}, "messages[0].content"),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "[1]"}}],
                    }
                ]
            },
            "messages[0].tool_calls[0]",
        ),
        ({"messages": [{"role": "function", "name": "f", "content": "x"}]}, "messages[0].role"),
        (
            {
                "tools": [{"function": {"name": "a"}}],
                "tool_choice": {"type": "function", "function": {"name": "b"}},
            },
            "tool_choice",
        ),
        ({"response_format": {"type": "yaml"}}, "response_format"),
    ],
)
def test_requests_ollama_cannot_take_are_rejected_before_the_trip(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        adapter.chat_request(chat(**fields), ENDPOINT)
    assert info.value.param == param and info.value.status == 400


# -- responses -----------------------------------------------------------------------------------
def test_text_response() -> None:
    response = adapter.chat_response((FIXTURES / "response_text.json").read_bytes(), ENDPOINT)
    assert response.id.startswith("chatcmpl-") and response.model == "llama3.2"
    assert response.created == 1702390423  # 2023-12-12T14:13:43Z
    choice = response.choices[0]
    assert choice.message.content == "Hello! How are you today?"
    assert choice.finish_reason == "stop"  # no done_reason at all in this documented answer
    assert msgspec.to_builtins(response.usage) == {
        "prompt_tokens": 26,
        "completion_tokens": 298,
        "total_tokens": 324,
    }


def test_tool_call_response_gets_ids_string_arguments_and_tool_calls_finish() -> None:
    response = adapter.chat_response((FIXTURES / "response_tool_call.json").read_bytes(), ENDPOINT)
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"  # Ollama says "stop"
    assert choice.message.content is None
    calls = choice.message.tool_calls
    assert not isinstance(calls, msgspec.UnsetType) and len(calls) == 1
    assert calls[0].id.startswith("call_") and len(calls[0].id) > 10
    assert calls[0].function.name == "get_current_weather"
    assert isinstance(calls[0].function.arguments, str)
    assert json.loads(calls[0].function.arguments) == {"format": "celsius", "location": "Paris, FR"}


def test_newer_servers_tool_call_ids_are_kept_and_thinking_is_dropped() -> None:
    response = adapter.chat_response((FIXTURES / "response_tool_call_ids.json").read_bytes(), ENDPOINT)
    calls = response.choices[0].message.tool_calls
    assert not isinstance(calls, msgspec.UnsetType)
    assert [c.id for c in calls] == ["call_k3x9q2ab", "call_7hz1m0cd"]
    assert json.loads(calls[1].function.arguments) == {"city": "Osaka", "days": [1, 2]}
    assert response.choices[0].message.content is None


def test_length_with_a_cached_prompt_has_no_prompt_count() -> None:
    response = adapter.chat_response((FIXTURES / "response_length_cached_prompt.json").read_bytes(), ENDPOINT)
    assert response.choices[0].finish_reason == "length"
    usage = response.usage
    assert not isinstance(usage, msgspec.UnsetType)
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (0, 5, 5)


def test_error_or_garbage_in_a_200_body_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamError, match="boom"):
        adapter.chat_response(b'{"error":"boom"}', ENDPOINT)
    with pytest.raises(UpstreamError):
        adapter.chat_response(b"not json", ENDPOINT)


# -- streams -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["stream_text.txt", "stream_tool_call.txt"])
def test_any_split_gives_the_same_chunks(name: str) -> None:
    raw = (FIXTURES / name).read_bytes()
    whole, finished = decode(raw)
    assert finished
    for split in (1, 2, 50):
        chunks, finished = decode(raw, split)
        assert finished
        assert comparable(chunks) == comparable(whole)
    unterminated, finished = decode(raw.rstrip(b"\n"), 9)  # the last line without its newline
    assert finished and comparable(unterminated) == comparable(whole)


def test_text_stream_looks_like_openai() -> None:
    chunks, _ = decode((FIXTURES / "stream_text.txt").read_bytes(), 1)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in chunks[1:] if c.choices)
    assert len({c.id for c in chunks}) == 1
    assert all(c.model == "llama3.2" and c.created == chunks[0].created for c in chunks)
    assert text_of(chunks) == "The sky is blue ✓"
    assert finish_of(chunks) == ["stop"]
    assert chunks[-1].choices == []
    assert msgspec.to_builtins(chunks[-1].usage) == {
        "prompt_tokens": 26,
        "completion_tokens": 282,
        "total_tokens": 308,
    }


def test_tool_call_stream_whole_calls_become_single_fragments() -> None:
    chunks, _ = decode((FIXTURES / "stream_tool_call.txt").read_bytes())
    calls = tool_calls_of(chunks)
    assert sorted(calls) == [0, 1]
    assert len(calls[0]["ids"]) == 1 and calls[0]["ids"][0].startswith("call_")
    assert calls[1]["ids"] == ["call_ab12cd34"]
    assert calls[0]["names"] == ["get_weather"] and calls[1]["names"] == ["get_time"]
    assert json.loads(calls[0]["arguments"]) == {"city": "Tokyo"}
    assert json.loads(calls[1]["arguments"]) == {"zone": "JST"}
    assert chunks[0].choices[0].delta.role == "assistant"
    assert finish_of(chunks) == ["tool_calls"]
    assert chunks[-1].usage.prompt_tokens == 169  # type: ignore[union-attr]


def test_in_stream_error_line_raises_after_the_text_before_it() -> None:
    lines = (FIXTURES / "stream_error.txt").read_bytes().splitlines(keepends=True)
    decoder = adapter.chat_stream(ENDPOINT)
    assert text_of(decoder.feed(lines[0])) == "Once upon"
    with pytest.raises(UpstreamError, match="unexpected EOF") as info:
        decoder.feed(lines[1])
    assert not info.value.retryable and not decoder.finished


def test_cut_stream_is_not_finished() -> None:
    raw = (FIXTURES / "stream_text.txt").read_bytes()
    chunks, finished = decode(raw[: raw.rindex(b'{"model"')], 4)
    assert not finished and finish_of(chunks) == [] and text_of(chunks) == "The sky is blue ✓"


# -- errors --------------------------------------------------------------------------------------
def test_error_bodies_map_to_the_error_family() -> None:
    err = adapter.map_error(404, {}, (FIXTURES / "error_404.json").read_bytes())
    assert isinstance(err, NotFoundError) or err.status == 404
    assert err.message == "ollama: model 'llama3.1' not found, try pulling it first"
    err = adapter.map_error(
        429,
        {"retry-after": "2"},
        b'{"error":"server busy, please try again.  maximum pending requests exceeded"}',
    )
    assert (
        isinstance(err, RateLimitError)
        and err.headers == {"retry-after": "2"}
        and "server busy" in err.message
    )
    err = adapter.map_error(500, {}, b'{"error":"llama runner process has terminated: signal: killed"}')
    assert err.status == 502 and err.retryable and "signal: killed" in err.message


# -- embeddings ----------------------------------------------------------------------------------
def test_embed_request_and_response() -> None:
    out = adapter.embeddings_request(
        EmbeddingRequest(model="ollama-embed", input=["a", "b"], dimensions=5), ENDPOINT
    )
    assert out.url == "http://127.0.0.1:11434/api/embed"
    assert json.loads(out.body or b"") == {"model": "llama3.1", "input": ["a", "b"], "dimensions": 5}
    response = adapter.embeddings_response((FIXTURES / "embed_response.json").read_bytes(), ENDPOINT)
    assert len(response.data) == 2 and response.data[1].index == 1
    assert response.data[0].embedding[2] == pytest.approx(0.05007221)
    assert response.usage.prompt_tokens == 8 and response.usage.total_tokens == 8
    with pytest.raises(InvalidRequestError):
        adapter.embeddings_request(EmbeddingRequest(model="m", input=[1, 2, 3]), ENDPOINT)


# -- round trip against the mock -----------------------------------------------------------------
@pytest.fixture
def mock() -> tuple[httpx.AsyncClient, MockState]:
    state = MockState()
    app = Starlette(routes=ollama_mock.routes(state))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock")
    return client, state


MOCK_ENDPOINT = Endpoint("ollama", "ollama", "http://mock", "llama3.1")
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


async def test_mock_streams_ndjson_when_stream_is_absent(mock: tuple[httpx.AsyncClient, MockState]) -> None:
    client, _ = mock
    raw = await client.post(
        "/api/chat", json={"model": "llama3.1", "messages": [{"role": "user", "content": "x y"}]}
    )
    assert raw.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in raw.text.splitlines()]
    assert [line["done"] for line in lines][-1] is True and not any(line["done"] for line in lines[:-1])
    loaded = await client.post("/api/chat", json={"model": "llama3.1", "messages": []})
    assert loaded.json()["done_reason"] == "load"


async def test_round_trip_text_and_stream(mock: tuple[httpx.AsyncClient, MockState]) -> None:
    client, state = mock
    request = chat(
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hello there ollama"},
        ]
    )
    raw = await send(client, adapter.chat_request(request, MOCK_ENDPOINT))
    assert raw.headers["content-type"].startswith("application/json")
    response = adapter.chat_response(raw.content, MOCK_ENDPOINT)
    text = response.choices[0].message.content or ""
    assert "hello there ollama" in text and response.choices[0].finish_reason == "stop"
    assert response.usage.completion_tokens == count_tokens(text)  # type: ignore[union-attr]
    assert response.usage.prompt_tokens == 3 + 4  # type: ignore[union-attr]

    request.stream = True
    chunks, finished = decode((await send(client, adapter.chat_request(request, MOCK_ENDPOINT))).content, 3)
    assert finished and text_of(chunks) == text
    assert chunks[-1].usage.completion_tokens == count_tokens(text)  # type: ignore[union-attr]
    assert state.streams_completed == 1


async def test_round_trip_tools_results_and_format(mock: tuple[httpx.AsyncClient, MockState]) -> None:
    client, state = mock
    request = chat(messages=[{"role": "user", "content": "weather in Paris?"}], tools=[WEATHER])
    first = adapter.chat_response(
        (await send(client, adapter.chat_request(request, MOCK_ENDPOINT))).content, MOCK_ENDPOINT
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert not isinstance(choice.message.tool_calls, msgspec.UnsetType)
    call = choice.message.tool_calls[0]
    assert json.loads(call.function.arguments) == {"location": "Paris"}
    history = [*msgspec.to_builtins(request.messages), msgspec.to_builtins(choice.message)]
    history.append({"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"})
    second_request = chat(messages=history, tools=[WEATHER])
    second = adapter.chat_response(
        (await send(client, adapter.chat_request(second_request, MOCK_ENDPOINT))).content, MOCK_ENDPOINT
    )
    assert "sunny, 21C" in (second.choices[0].message.content or "")
    assert state.last_request and state.last_request["messages"][-1]["tool_name"] == "get_weather"
    assert state.last_request["messages"][-2]["tool_calls"][0]["function"]["arguments"] == {
        "location": "Paris"
    }

    chunks, _ = decode(
        (await send(client, adapter.chat_request(chat(tools=[WEATHER], stream=True), MOCK_ENDPOINT))).content,
        1,
    )
    calls = tool_calls_of(chunks)
    assert len(calls[0]["ids"]) == 1 and json.loads(calls[0]["arguments"]) == {"location": "Paris"}
    assert finish_of(chunks) == ["tool_calls"]

    request = chat(response_format={"type": "json_object"}, max_tokens=2)
    raw = await send(client, adapter.chat_request(request, MOCK_ENDPOINT))
    assert state.last_request and state.last_request["format"] == "json"
    assert adapter.chat_response(raw.content, MOCK_ENDPOINT).choices[0].finish_reason == "length"


async def test_round_trip_faults_auth_and_embeddings(mock: tuple[httpx.AsyncClient, MockState]) -> None:
    client, state = mock
    state.fault = Fault(status=503, count=1)
    raw = await send(client, adapter.chat_request(chat(), MOCK_ENDPOINT))
    err = adapter.map_error(raw.status_code, dict(raw.headers), raw.content)
    assert err.status == 503 and "mock fault" in err.message

    state.fault = Fault(drop_after_chunks=2, count=1)
    chunks, finished = decode(
        (await send(client, adapter.chat_request(chat(stream=True), MOCK_ENDPOINT))).content
    )
    assert not finished and finish_of(chunks) == []

    raw = await client.post(
        "/api/chat", headers={"authorization": "Basic x"}, json={"model": "m", "messages": []}
    )
    assert raw.status_code == 401 and raw.json() == {"error": "unauthorized"}

    upstream = adapter.embeddings_request(EmbeddingRequest(model="e", input="one two three"), MOCK_ENDPOINT)
    response = adapter.embeddings_response((await send(client, upstream)).content, MOCK_ENDPOINT)
    assert len(response.data) == 1 and len(response.data[0].embedding) == 16
    assert response.usage.prompt_tokens == 3
