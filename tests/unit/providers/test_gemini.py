"""Gemini adapter: golden requests, responses, streams (SSE and JSON array), errors, and the mock."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from starlette.applications import Starlette

from alfred.errors import (
    AlfredError,
    ContentPolicyError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    ServiceUnavailableError,
    UpstreamError,
)
from alfred.mock import gemini as gemini_mock
from alfred.mock.state import Fault, MockState
from alfred.providers.base import Endpoint, UpstreamRequest
from alfred.providers.gemini import GeminiAdapter
from alfred.providers.gemini_stream import JSONArraySplitter
from alfred.schema import ChatChunk, ChatRequest, EmbeddingRequest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "gemini"
ADAPTER = GeminiAdapter()


def endpoint(**kw: Any) -> Endpoint:
    fields: dict[str, Any] = {
        "provider": "gemini",
        "kind": "gemini",
        "base_url": "https://generativelanguage.googleapis.com",
        "model": "gemini-2.0-flash",
        "api_key": "AIza-test-key",
        **kw,
    }
    return Endpoint(**fields)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def chat(**fields: Any) -> ChatRequest:
    body = {"model": "gemini-flash", "messages": [{"role": "user", "content": "hi"}], **fields}
    return msgspec.convert(body, ChatRequest)


def body_of(upstream: UpstreamRequest) -> Any:
    return json.loads(upstream.body or b"")


def plain(chunks: list[ChatChunk]) -> list[dict[str, Any]]:
    out = []
    for chunk in chunks:
        data = msgspec.to_builtins(chunk)
        data.pop("created")
        out.append(data)
    return out


def decode(raw: bytes, pieces: list[bytes] | None = None) -> tuple[list[ChatChunk], bool]:
    decoder = ADAPTER.chat_stream(endpoint())
    chunks: list[ChatChunk] = []
    for piece in pieces if pieces is not None else [raw]:
        chunks.extend(decoder.feed(piece))
    chunks.extend(decoder.close())
    return chunks, decoder.finished


def splits(raw: bytes) -> list[list[bytes]]:
    """One piece, byte by byte, and random cuts (seeded): every framing must decode the same."""
    rng = random.Random(11)
    cuts = sorted(rng.sample(range(1, len(raw)), 25))
    return [
        [raw],
        [raw[i : i + 1] for i in range(len(raw))],
        [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)])],
    ]


# -- requests ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("request_*.json")))
def test_request_bodies_match_the_golden_wire_format(name: str) -> None:
    case = fixture(name)
    upstream = ADAPTER.chat_request(msgspec.convert(case["openai"], ChatRequest), endpoint())
    assert body_of(upstream) == case["gemini"]


def test_request_url_and_headers() -> None:
    upstream = ADAPTER.chat_request(chat(), endpoint())
    assert upstream.method == "POST"
    assert (
        upstream.url
        == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent"
    )
    assert upstream.headers["x-goog-api-key"] == "AIza-test-key"
    assert upstream.headers["content-type"] == "application/json"
    assert "authorization" not in upstream.headers
    assert upstream.stream is False


def test_stream_request_asks_for_sse_and_api_version_picks_v1() -> None:
    upstream = ADAPTER.chat_request(
        chat(stream=True), endpoint(api_version="v1", model="models/gemini-2.5-pro")
    )
    assert (
        upstream.url
        == "https://generativelanguage.googleapis.com/v1/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    )
    assert upstream.stream is True
    assert "stream" not in body_of(upstream)


def test_base_url_that_already_names_the_version_is_not_doubled() -> None:
    upstream = ADAPTER.chat_request(chat(), endpoint(base_url="https://proxy.example/gemini/v1beta/"))
    assert upstream.url == "https://proxy.example/gemini/v1beta/models/gemini-2.0-flash:generateContent"


def test_configured_headers_are_sent() -> None:
    upstream = ADAPTER.chat_request(chat(), endpoint(headers={"x-goog-user-project": "p-1"}))
    assert upstream.headers["x-goog-user-project"] == "p-1"


@pytest.mark.parametrize(("choice", "mode"), [("auto", "AUTO"), ("none", "NONE"), ("required", "ANY")])
def test_tool_choice_modes(choice: str, mode: str) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "f",
                "parameters": {"type": "object", "properties": {"a": {"type": "string"}}},
            },
        }
    ]
    body = body_of(ADAPTER.chat_request(chat(tools=tools, tool_choice=choice), endpoint()))
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": mode}}


def test_gemini_3_replayed_calls_carry_the_documented_skip_signature() -> None:
    case = fixture("request_tool_results.json")
    request = msgspec.convert(case["openai"], ChatRequest)
    parts = body_of(ADAPTER.chat_request(request, endpoint(model="gemini-3-pro-preview")))["contents"][1][
        "parts"
    ]
    assert parts[0]["thoughtSignature"] == "skip_thought_signature_validator"
    assert "thoughtSignature" not in parts[1]  # only the first of parallel calls carries one
    older = body_of(ADAPTER.chat_request(request, endpoint(model="gemini-2.5-flash")))["contents"][1]["parts"]
    assert all("thoughtSignature" not in part for part in older)


def test_a_tool_result_for_an_unknown_call_is_refused() -> None:
    request = chat(
        messages=[
            {"role": "user", "content": "x"},
            {"role": "tool", "tool_call_id": "call_9", "content": "r"},
        ]
    )
    with pytest.raises(InvalidRequestError) as info:
        ADAPTER.chat_request(request, endpoint())
    assert info.value.param == "messages[1].tool_call_id"


def test_tool_arguments_that_are_not_a_json_object_are_refused() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1, 2]"}}
    request = chat(messages=[{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [call]}])
    with pytest.raises(InvalidRequestError):
        ADAPTER.chat_request(request, endpoint())


def test_unsupported_content_parts_and_non_base64_data_urls_are_refused() -> None:
    audio = chat(messages=[{"role": "user", "content": [{"type": "input_audio"}]}])
    with pytest.raises(InvalidRequestError):
        ADAPTER.chat_request(audio, endpoint())
    image = {"type": "image_url", "image_url": {"url": "data:image/svg+xml,<svg/>"}}
    with pytest.raises(InvalidRequestError):
        ADAPTER.chat_request(chat(messages=[{"role": "user", "content": [image]}]), endpoint())


# -- responses --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [
        "response_text.json",
        "response_function_call.json",
        "response_thinking.json",
        "response_safety_two_candidates.json",
    ],
)
def test_responses_match_the_golden_canonical_form(name: str) -> None:
    case = fixture(name)
    response = ADAPTER.chat_response(json.dumps(case["gemini"]).encode(), endpoint())
    data = msgspec.to_builtins(response)
    data.pop("created")
    if "id" not in case["openai"]:
        assert data.pop("id").startswith("chatcmpl-")
    assert data == case["openai"]


def test_a_blocked_prompt_is_a_content_policy_error() -> None:
    with pytest.raises(ContentPolicyError) as info:
        ADAPTER.chat_response((FIXTURES / "response_prompt_blocked.json").read_bytes(), endpoint())
    assert "PROHIBITED_CONTENT" in info.value.message
    assert info.value.status == 400 and not info.value.retryable


def test_a_malformed_response_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamError):
        ADAPTER.chat_response(b"<html>bad gateway</html>", endpoint())


# -- streams ----------------------------------------------------------------------------------
TEXT_ID = "chatcmpl-s1mZaNnAKe2RkdUPzuTBoAk"
TEXT_CHUNKS: list[dict[str, Any]] = [
    {"index": 0, "delta": {"role": "assistant", "content": "The"}, "finish_reason": None, "logprobs": None},
    {
        "index": 0,
        "delta": {"content": " quick brown fox jumps over"},
        "finish_reason": None,
        "logprobs": None,
    },
    {"index": 0, "delta": {"content": " the lazy dog. 🦊"}, "finish_reason": None, "logprobs": None},
    {"index": 0, "delta": {}, "finish_reason": "stop", "logprobs": None},
]


def expected_text_stream() -> list[dict[str, Any]]:
    base = {"id": TEXT_ID, "model": "gemini-2.0-flash", "object": "chat.completion.chunk"}
    chunks = [{**base, "choices": [choice]} for choice in TEXT_CHUNKS]
    chunks.append(
        {**base, "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}}
    )
    return chunks


@pytest.mark.parametrize("name", ["stream_text.sse.bin", "stream_text.array.bin"])
def test_text_stream_decodes_the_same_however_it_is_split(name: str) -> None:
    raw = (FIXTURES / name).read_bytes()
    for pieces in splits(raw):
        chunks, finished = decode(raw, pieces)
        assert plain(chunks) == expected_text_stream()
        assert finished, "the finishReason chunk ends a Gemini stream (there is no [DONE])"


def test_sse_events_end_with_crlf_crlf_and_no_done_marker() -> None:
    raw = (FIXTURES / "stream_text.sse.bin").read_bytes()
    assert raw.count(b"\r\n\r\n") == 4 and b"[DONE]" not in raw


def test_streamed_function_calls_become_openai_fragments_with_thinking_usage() -> None:
    raw = (FIXTURES / "stream_function_call.sse.bin").read_bytes()
    for pieces in splits(raw):
        chunks, finished = decode(raw, pieces)
        assert finished
        deltas = [c["choices"][0]["delta"] if c["choices"] else None for c in plain(chunks)]
        assert deltas[:4] == [
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_0",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ],
            },
            {"tool_calls": [{"index": 0, "function": {"arguments": '{"location":"Paris"}'}}]},
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": ""},
                    }
                ]
            },
            {"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]},
        ]
        assert chunks[4].choices[0].finish_reason == "tool_calls"
        assert chunks[5].choices == []
        assert msgspec.to_builtins(chunks[5].usage) == {
            "prompt_tokens": 60,
            "completion_tokens": 71,
            "total_tokens": 131,
            "completion_tokens_details": {"reasoning_tokens": 57},
        }


def test_text_and_a_call_in_one_chunk_keep_their_order() -> None:
    event = {
        "candidates": [
            {
                "content": {
                    "parts": [{"text": "Checking."}, {"functionCall": {"name": "f", "args": {"a": 1}}}],
                    "role": "model",
                },
                "finishReason": "STOP",
            }
        ]
    }
    chunks, finished = decode(b"data: " + json.dumps(event).encode() + b"\r\n\r\n")
    assert finished
    assert chunks[0].choices[0].delta.content == "Checking."
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[1].choices[0].delta.tool_calls[0].function.name == "f"  # type: ignore[index,union-attr]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert not any(c.usage for c in chunks), "no usageMetadata, no usage chunk: the gateway counts"


def test_an_error_event_mid_stream_raises_after_the_content_before_it() -> None:
    decoder = ADAPTER.chat_stream(endpoint())
    raw = (FIXTURES / "stream_error.sse.bin").read_bytes()
    first, rest = raw.split(b"\r\n\r\n", 1)
    assert [c.choices[0].delta.content for c in decoder.feed(first + b"\r\n\r\n")] == ["The"]
    with pytest.raises(UpstreamError) as info:
        decoder.feed(rest)
    assert "internal error" in info.value.message
    assert not info.value.retryable, "content already reached the client"
    assert not decoder.finished


def test_an_error_before_any_content_may_be_retried() -> None:
    decoder = ADAPTER.chat_stream(endpoint())
    with pytest.raises(UpstreamError) as info:
        decoder.feed(
            b'data: {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}\r\n\r\n'
        )
    assert info.value.retryable


def test_a_cut_stream_is_not_finished() -> None:
    raw = (FIXTURES / "stream_text.sse.bin").read_bytes()
    cut = raw[: raw.rindex(b"data: ")]
    chunks, finished = decode(cut)
    assert [c.choices[0].delta.content for c in chunks] == [
        "The",
        " quick brown fox jumps over",
        " the lazy dog. 🦊",
    ]
    assert not finished
    array = (FIXTURES / "stream_text.array.bin").read_bytes()
    chunks, finished = decode(array[: len(array) - 40])  # inside the last object
    assert len(chunks) == 3 and not finished


def test_a_prompt_blocked_mid_stream_raises() -> None:
    event = (
        b"data: " + (FIXTURES / "response_prompt_blocked.json").read_bytes().replace(b"\n", b"") + b"\r\n\r\n"
    )
    with pytest.raises(ContentPolicyError):
        ADAPTER.chat_stream(endpoint()).feed(event)


def test_json_array_splitter_respects_strings_and_escapes() -> None:
    objects = [{"text": 'a } b { "q"} \\'}, {"n": [1, {"x": "]"}]}, {"emoji": "🦊}"}, {"t": '\\"{'}]
    raw = ("[" + ",\r\n".join(json.dumps(o, ensure_ascii=False) for o in objects) + "]").encode()
    for pieces in splits(raw):
        splitter = JSONArraySplitter()
        found = [json.loads(piece) for chunk in pieces for piece in splitter.feed(chunk)]
        assert found == objects


# -- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "status", "cls", "code", "text"),
    [
        (
            "error_429_quota.json",
            429,
            RateLimitError,
            "upstream_rate_limited",
            "You exceeded your current quota",
        ),
        (
            "error_api_key_invalid.json",
            400,
            UpstreamError,
            "upstream_authentication_error",
            "API key not valid",
        ),
        (
            "error_403_no_key.json",
            403,
            UpstreamError,
            "upstream_authentication_error",
            "unregistered callers",
        ),
        (
            "error_400_array.json",
            400,
            InvalidRequestError,
            "invalid_request",
            "should be non-empty for OBJECT type",
        ),
        ("error_404_model.json", 404, NotFoundError, "not_found", "is not found for API version v1beta"),
        ("error_503_overloaded.json", 503, ServiceUnavailableError, "service_unavailable", "overloaded"),
        ("error_500_internal.json", 500, UpstreamError, "upstream_error", "An internal error has occurred"),
    ],
)
def test_error_bodies_map_to_alfred_errors(
    name: str, status: int, cls: type[AlfredError], code: str, text: str
) -> None:
    error = ADAPTER.map_error(status, {}, (FIXTURES / name).read_bytes())
    assert isinstance(error, cls) or (cls is NotFoundError and error.status == 404)
    assert error.code == code
    assert text in error.message and error.message.startswith("gemini: ")


def test_statuses_of_mapped_errors() -> None:
    def status(name: str, code: int) -> int:
        return ADAPTER.map_error(code, {}, (FIXTURES / name).read_bytes()).status

    assert status("error_api_key_invalid.json", 400) == 502  # the gateway's key, not the caller's fault
    assert status("error_400_array.json", 400) == 400
    assert status("error_404_model.json", 404) == 404
    assert status("error_500_internal.json", 500) == 502


def test_retry_delay_in_the_body_becomes_retry_after_and_a_header_wins() -> None:
    body = (FIXTURES / "error_429_quota.json").read_bytes()
    assert ADAPTER.map_error(429, {}, body).headers == {"retry-after": "37"}
    assert ADAPTER.map_error(429, {"retry-after": "5"}, body).headers == {"retry-after": "5"}


def test_a_non_json_error_body_keeps_its_text() -> None:
    error = ADAPTER.map_error(502, {}, b"<html>Bad Gateway</html>")
    assert "Bad Gateway" in error.message and error.status == 502


# -- embeddings -------------------------------------------------------------------------------
def test_embeddings_request_and_response() -> None:
    case = fixture("embeddings_batch.json")
    ep = endpoint(model="text-embedding-004")
    upstream = ADAPTER.embeddings_request(msgspec.convert(case["openai"], EmbeddingRequest), ep)
    assert (
        upstream.url
        == "https://generativelanguage.googleapis.com/v1beta/models/text-embedding-004:batchEmbedContents"
    )
    assert body_of(upstream) == case["request"]
    response = ADAPTER.embeddings_response(json.dumps(case["response"]).encode(), ep)
    assert [e.index for e in response.data] == [0, 1]
    assert response.data[1].embedding == case["response"]["embeddings"][1]["values"]
    assert response.model == "text-embedding-004"
    assert response.usage.prompt_tokens == 0  # Gemini reports none; the pipeline counts


def test_single_embed_content_response_and_token_ids_refused() -> None:
    response = ADAPTER.embeddings_response(b'{"embedding": {"values": [0.5, -0.5]}}', endpoint())
    assert [e.embedding for e in response.data] == [[0.5, -0.5]]
    with pytest.raises(InvalidRequestError):
        ADAPTER.embeddings_request(EmbeddingRequest(model="e", input=[[1, 2, 3]]), endpoint())


# -- against the mock -------------------------------------------------------------------------
@pytest.fixture
def mock() -> tuple[httpx.AsyncClient, MockState]:
    state = MockState()
    app = Starlette(routes=gemini_mock.routes(state))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://mock"), state


async def send(client: httpx.AsyncClient, upstream: UpstreamRequest) -> httpx.Response:
    return await client.request(
        upstream.method, upstream.url, headers=upstream.headers, content=upstream.body
    )


async def stream(
    client: httpx.AsyncClient, upstream: UpstreamRequest, ep: Endpoint
) -> tuple[list[ChatChunk], bool]:
    decoder = ADAPTER.chat_stream(ep)
    chunks: list[ChatChunk] = []
    async with client.stream(
        upstream.method, upstream.url, headers=upstream.headers, content=upstream.body
    ) as response:
        assert response.status_code == 200
        async for data in response.aiter_raw():
            chunks.extend(decoder.feed(data))
    chunks.extend(decoder.close())
    return chunks, decoder.finished


MOCK = endpoint(base_url="http://mock")


async def test_round_trip_against_the_mock(mock: tuple[httpx.AsyncClient, MockState]) -> None:
    client, state = mock
    request = chat(
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hello there gateway"},
        ]
    )
    response = await send(client, ADAPTER.chat_request(request, MOCK))
    parsed = ADAPTER.chat_response(response.content, MOCK)
    assert "hello there gateway" in (parsed.choices[0].message.content or "")
    assert parsed.choices[0].finish_reason == "stop"
    usage = parsed.usage
    assert not isinstance(usage, msgspec.UnsetType)
    assert usage.completion_tokens == len((parsed.choices[0].message.content or "").split())
    assert state.last_path == "/v1beta/models/gemini-2.0-flash:generateContent"
    assert state.last_headers["x-goog-api-key"] == "AIza-test-key"


@pytest.mark.parametrize("alt_sse", [True, False])
async def test_streams_from_the_mock_in_both_framings(
    mock: tuple[httpx.AsyncClient, MockState], alt_sse: bool
) -> None:
    client, _ = mock
    ep = endpoint(base_url="http://mock", model="gemini-2.5-flash", api_version="v1")
    upstream = ADAPTER.chat_request(
        chat(stream=True, messages=[{"role": "user", "content": "mock:words=7"}]), ep
    )
    if not alt_sse:
        upstream.url = upstream.url.removesuffix("?alt=sse")
    chunks, finished = await stream(client, upstream, ep)
    assert finished
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "w0 w1 w2 w3 w4 w5 w6"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason == "stop"
    usage = chunks[-1].usage
    assert isinstance(usage, msgspec.Struct) and chunks[-1].choices == []
    details = usage.completion_tokens_details  # type: ignore[attr-defined]
    assert details is not None and details.reasoning_tokens  # gemini-2.5 thinks
    assert usage.completion_tokens == 7 + details.reasoning_tokens  # type: ignore[attr-defined]


async def test_tool_round_trip_through_the_mock(mock: tuple[httpx.AsyncClient, MockState]) -> None:
    client, state = mock
    weather = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"location": {"type": "string"}},
            },
        },
    }
    messages: list[dict[str, Any]] = [{"role": "user", "content": "weather in Paris?"}]
    first = ADAPTER.chat_response(
        (await send(client, ADAPTER.chat_request(chat(messages=messages, tools=[weather]), MOCK))).content,
        MOCK,
    )
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    call = message.tool_calls[0]  # type: ignore[index]
    assert json.loads(call.function.arguments) == {"location": "Paris"}
    messages.append(msgspec.to_builtins(message))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"})
    second = await send(client, ADAPTER.chat_request(chat(messages=messages, tools=[weather]), MOCK))
    assert second.status_code == 200
    sent = state.last_request or {}
    assert sent["contents"][2]["parts"][0]["functionResponse"] == {
        "name": "get_weather",
        "response": {"output": "sunny, 21C"},
    }
    assert "sunny, 21C" in (ADAPTER.chat_response(second.content, MOCK).choices[0].message.content or "")


async def test_streamed_tool_call_from_the_mock(mock: tuple[httpx.AsyncClient, MockState]) -> None:
    client, _ = mock
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
        },
    }
    chunks, finished = await stream(client, ADAPTER.chat_request(chat(stream=True, tools=[tool]), MOCK), MOCK)
    assert finished
    calls = [t for c in chunks for ch in c.choices for t in ch.delta.tool_calls or ()]
    assert [t.id for t in calls if t.id] == ["call_0"]
    assert json.loads("".join(t.function.arguments or "" for t in calls if t.function)) == {
        "location": "Paris"
    }


async def test_mock_faults_and_auth_arrive_in_googles_error_shape(
    mock: tuple[httpx.AsyncClient, MockState],
) -> None:
    client, state = mock
    upstream = ADAPTER.chat_request(chat(), MOCK)
    state.fault = Fault(status=429, retry_after=3, count=1)
    response = await send(client, upstream)
    assert response.status_code == 429 and "retry-after" not in response.headers
    error = ADAPTER.map_error(response.status_code, dict(response.headers), response.content)
    assert isinstance(error, RateLimitError) and error.headers == {"retry-after": "3"}

    upstream.headers.pop("x-goog-api-key")
    response = await send(client, upstream)
    assert response.status_code == 403 and response.json()["error"]["status"] == "PERMISSION_DENIED"
    assert ADAPTER.map_error(403, {}, response.content).code == "upstream_authentication_error"
    upstream.url += "?key=AIza-in-query"
    assert (await send(client, upstream)).status_code == 200


async def test_a_dropped_mock_stream_leaves_the_decoder_unfinished(
    mock: tuple[httpx.AsyncClient, MockState],
) -> None:
    client, state = mock
    state.fault = Fault(drop_after_chunks=2)
    upstream = ADAPTER.chat_request(
        chat(stream=True, messages=[{"role": "user", "content": "mock:words=6"}]), MOCK
    )
    chunks, finished = await stream(client, upstream, MOCK)
    assert len(chunks) == 2 and not finished


async def test_embeddings_through_the_mock(mock: tuple[httpx.AsyncClient, MockState]) -> None:
    client, _ = mock
    ep = endpoint(base_url="http://mock", model="text-embedding-004")
    upstream = ADAPTER.embeddings_request(EmbeddingRequest(model="e", input=["one", "two"], dimensions=8), ep)
    response = ADAPTER.embeddings_response((await send(client, upstream)).content, ep)
    assert [len(e.embedding) for e in response.data] == [8, 8]
    assert response.data[0].embedding != response.data[1].embedding
    single = await client.post(
        "/v1/models/text-embedding-004:embedContent",
        headers={"x-goog-api-key": "k"},
        json={"content": {"parts": [{"text": "one"}]}, "outputDimensionality": 8},
    )
    assert ADAPTER.embeddings_response(single.content, ep).data[0].embedding == response.data[0].embedding
