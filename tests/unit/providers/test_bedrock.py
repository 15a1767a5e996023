"""Bedrock Converse / ConverseStream adapter, its event-stream framing, SigV4 signing and its mock."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import hmac
import json
import random
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import msgspec
import pytest
from botocore.eventstream import EventStreamBuffer
from starlette.applications import Starlette

from alfred import errors
from alfred.errors import InvalidRequestError, UpstreamError
from alfred.mock.bedrock import routes
from alfred.mock.state import Fault, MockState
from alfred.providers.base import Endpoint
from alfred.providers.bedrock import BedrockAdapter, BedrockStreamDecoder
from alfred.providers.eventstream import EventStreamDecoder, EventStreamError, encode_message
from alfred.providers.sigv4 import SigV4Signer, StaticCredentials
from alfred.providers.transport import HttpTransport, Timeouts
from alfred.schema import ChatChunk, ChatRequest, EmbeddingRequest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "bedrock"
MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
FIXED_TIME = datetime.datetime(2015, 8, 30, 12, 36, 0)  # the AWS SigV4 test suite's timestamp


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def endpoint(**kwargs: Any) -> Endpoint:
    options = {"region": "us-east-1", "access_key_id": "AKIAMOCKMOCKMOCK", "secret_access_key": "mock-secret"}
    fields: dict[str, Any] = {
        "provider": "bedrock",
        "kind": "bedrock",
        "base_url": "https://bedrock-runtime.us-east-1.amazonaws.com",
        "model": MODEL,
        "options": options,
    }
    fields.update(kwargs)
    return Endpoint(**fields)


def canonical(raw: dict[str, Any]) -> ChatRequest:
    return msgspec.convert(raw, ChatRequest)


def wire(chunks: list[ChatChunk]) -> list[dict[str, Any]]:
    """Chunks as plain data without the per-stream id and timestamp."""
    out = []
    for chunk in chunks:
        data = msgspec.to_builtins(chunk)
        data.pop("id")
        data.pop("created")
        out.append(data)
    return out


def feed_in_pieces(data: bytes, sizes: list[int] | None) -> tuple[list[ChatChunk], BedrockStreamDecoder]:
    decoder = BedrockAdapter().chat_stream(endpoint())
    chunks: list[ChatChunk] = []
    if sizes is None:
        chunks += decoder.feed(data)
    else:
        pos = 0
        for size in sizes:
            chunks += decoder.feed(data[pos : pos + size])
            pos += size
        chunks += decoder.feed(data[pos:])
    chunks += decoder.close()
    return chunks, decoder


def frame_ends(data: bytes) -> list[int]:
    """Where each event-stream frame ends, read from the frames' own length prefixes."""
    ends, pos = [], 0
    while pos < len(data):
        pos += int.from_bytes(data[pos : pos + 4], "big")
        ends.append(pos)
    return ends


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.auth

    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: FIXED_TIME)


# -- event-stream framing --------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(fixture("eventstream_vectors.json")["vectors"]))
def test_eventstream_matches_aws_vectors(name: str) -> None:
    vector = fixture("eventstream_vectors.json")["vectors"][name]
    raw = bytes.fromhex(vector["hex"])
    if not vector["ok"]:
        with pytest.raises(EventStreamError):
            EventStreamDecoder().feed(raw)
        return
    (message,) = EventStreamDecoder().feed(raw)
    assert message.headers == vector["headers"]
    assert message.payload == vector["payload"].encode()
    assert encode_message(vector["headers"], vector["payload"].encode()) == raw


def test_eventstream_decodes_any_split_and_every_header_type() -> None:
    headers = {"t": True, "f": False, "i32": -7, "i64": 2**40, "bytes": b"\x00\x01", "s": "ünï"}
    frames = encode_message(headers, b"one") + encode_message({}, b"") + encode_message({"s": "x"}, b"three")
    expected = [(headers, b"one"), ({}, b""), ({"s": "x"}, b"three")]
    for split in (1, 2, 5, 13, len(frames)):
        decoder = EventStreamDecoder()
        got = []
        for pos in range(0, len(frames), split):
            got += [(m.headers, m.payload) for m in decoder.feed(frames[pos : pos + split])]
        assert got == expected
        assert decoder.pending == 0
    decoder = EventStreamDecoder()
    assert decoder.feed(frames[:20]) == []
    assert decoder.pending == 20


def test_eventstream_rejects_a_corrupt_message_crc() -> None:
    frame = bytearray(encode_message({":event-type": "x"}, b'{"a":1}'))
    frame[-6] ^= 0xFF
    with pytest.raises(EventStreamError, match="message CRC"):
        EventStreamDecoder().feed(bytes(frame))


@pytest.mark.parametrize("name", ["stream_text", "stream_tool_use", "stream_throttled", "stream_model_error"])
def test_stream_captures_decode_with_botocore(name: str) -> None:
    """The .bin captures are checked by botocore's own decoder, not only by ours."""
    buffer = EventStreamBuffer()
    buffer.add_data((FIXTURES / f"{name}.bin").read_bytes())
    decoded = [(m.headers, json.loads(m.payload)) for m in buffer]
    assert decoded == [(e["headers"], e["payload"]) for e in fixture(f"{name}.json")]


# -- canonical → Converse ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    ["request_plain", "request_system_multiturn", "request_tools", "request_image", "request_json_schema"],
)
def test_request_bodies(name: str) -> None:
    case = fixture(f"{name}.json")
    upstream = BedrockAdapter().chat_request(canonical(case["canonical"]), endpoint())
    assert json.loads(upstream.body or b"") == case["converse"]
    assert upstream.method == "POST"
    assert upstream.stream is False


def test_tool_choice_variants() -> None:
    case = fixture("request_tool_choice.json")
    for variant in case["cases"]:
        request = canonical(
            {
                "model": "m",
                "messages": [{"role": "user", "content": "hi"}],
                "tools": case["tools"],
                "tool_choice": variant["tool_choice"],
            }
        )
        body = json.loads(BedrockAdapter().chat_request(request, endpoint()).body or b"")
        assert body.get("toolConfig") == variant["toolConfig"], variant["tool_choice"]


def test_urls_encode_the_model_id_and_pick_the_action() -> None:
    adapter = BedrockAdapter()
    request = canonical({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    plain = adapter.chat_request(
        request, endpoint(base_url="https://bedrock-runtime.eu-west-1.amazonaws.com/")
    )
    assert plain.url == f"https://bedrock-runtime.eu-west-1.amazonaws.com/model/{MODEL}/converse"
    stream = adapter.chat_request(canonical({**msgspec.to_builtins(request), "stream": True}), endpoint())
    assert stream.url.endswith(f"/model/{MODEL}/converse-stream")
    assert stream.stream is True
    arn = (
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0"
    )
    assert (
        "/model/arn:aws:bedrock:us-east-1:123456789012:inference-profile%2Fus."
        in adapter.chat_request(request, endpoint(model=arn)).url
    )


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({"messages": [{"role": "user", "content": "x"}], "n": 2}, "n > 1"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
                    }
                ]
            },
            "data: URLs",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": "data:image/bmp;base64,AA=="}}
                        ],
                    }
                ]
            },
            "png, jpeg",
        ),
        ({"messages": [{"role": "tool", "content": "x"}]}, "tool_call_id"),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {"id": "t", "type": "function", "function": {"name": "f", "arguments": "{oops"}}
                        ],
                    }
                ]
            },
            "not JSON",
        ),
    ],
)
def test_requests_bedrock_cannot_express_are_refused(raw: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidRequestError, match=match):
        BedrockAdapter().chat_request(canonical({"model": "m", **raw}), endpoint())


# -- signing ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "signature"),
    [
        ("GET", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),  # get-vanilla
        ("POST", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),  # post-vanilla
    ],
)
def test_signer_matches_the_aws_sigv4_test_suite(fixed_clock: None, method: str, signature: str) -> None:
    credentials = StaticCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    headers = SigV4Signer("service", "us-east-1", credentials).sign(
        method, "https://example.amazonaws.com/", {}, b""
    )
    assert headers["x-amz-date"] == "20150830T123600Z"
    assert headers["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={signature}"
    )


def _expected_signature(secret: str, canonical_request: str, region: str) -> str:
    """SigV4 computed by hand, independently of botocore, from a written-out canonical request."""
    scope = f"20150830/{region}/bedrock/aws4_request"
    digest = hashlib.sha256(canonical_request.encode()).hexdigest()
    string_to_sign = f"AWS4-HMAC-SHA256\n20150830T123600Z\n{scope}\n{digest}"
    key = f"AWS4{secret}".encode()
    for part in ("20150830", region, "bedrock", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("model", "canonical_path"),
    [
        (MODEL, f"/model/{MODEL.replace(':', '%3A')}/converse"),
        # A '/' inside the model id stays %2F on the wire, so SigV4's second encoding makes it %252F.
        (
            "arn:aws:bedrock:eu-west-1:1:inference-profile/eu.x",
            "/model/arn%3Aaws%3Abedrock%3Aeu-west-1%3A1%3Ainference-profile%252Feu.x/converse",
        ),
    ],
)
def test_bedrock_requests_are_signed_as_aws_verifies_them(
    fixed_clock: None, model: str, canonical_path: str
) -> None:
    ep = endpoint(
        model=model,
        base_url="https://bedrock-runtime.eu-west-1.amazonaws.com",
        options={
            "region": "eu-west-1",
            "access_key_id": "AKIDEXAMPLE",
            "secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        },
    )
    upstream = BedrockAdapter().chat_request(
        canonical({"model": "m", "messages": [{"role": "user", "content": "hi"}]}), ep
    )
    body = upstream.body or b""
    canonical_request = "\n".join(
        [
            "POST",
            canonical_path,
            "",
            "content-type:application/json",
            "host:bedrock-runtime.eu-west-1.amazonaws.com",
            "x-amz-date:20150830T123600Z",
            "",
            "content-type;host;x-amz-date",
            hashlib.sha256(body).hexdigest(),
        ]
    )
    signature = _expected_signature(
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", canonical_request, "eu-west-1"
    )
    assert upstream.headers["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-1/bedrock/aws4_request, "
        f"SignedHeaders=content-type;host;x-amz-date, Signature={signature}"
    )


def test_session_token_is_sent_and_signed() -> None:
    options = {
        "access_key_id": "ASIAMOCK",
        "secret_access_key": "s",
        "session_token": "FwoGZXIvYXdzEMOCK",
        "region": "ap-south-1",
    }
    headers = (
        BedrockAdapter()
        .chat_request(
            canonical({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
            endpoint(options=options),
        )
        .headers
    )
    assert headers["x-amz-security-token"] == "FwoGZXIvYXdzEMOCK"
    assert "/ap-south-1/bedrock/aws4_request" in headers["authorization"]
    assert "x-amz-security-token" in headers["authorization"].split("SignedHeaders=")[1]


def test_bedrock_api_key_is_a_bearer_token() -> None:
    upstream = BedrockAdapter().chat_request(
        canonical({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
        endpoint(api_key="ABSKQmVkcm9ja0FQSUtleS1tb2Nr", options={}),
    )
    assert upstream.headers["authorization"] == "Bearer ABSKQmVkcm9ja0FQSUtleS1tb2Nr"
    assert "x-amz-date" not in upstream.headers


def _isolate_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_credentials_come_from_the_aws_chain_when_config_has_none(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _isolate_aws_env(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMENVIRONMENT")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    headers = (
        BedrockAdapter()
        .chat_request(
            canonical({"model": "m", "messages": [{"role": "user", "content": "hi"}]}), endpoint(options={})
        )
        .headers
    )
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIAFROMENVIRONMENT/")
    assert "/us-east-1/bedrock/aws4_request" in headers["authorization"]


def test_no_credentials_anywhere_is_an_upstream_auth_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _isolate_aws_env(monkeypatch, tmp_path)
    with pytest.raises(UpstreamError) as info:
        BedrockAdapter().chat_request(
            canonical({"model": "m", "messages": [{"role": "user", "content": "hi"}]}), endpoint(options={})
        )
    assert info.value.code == "upstream_authentication_error"
    assert "hunter2" not in repr(StaticCredentials("AKID", "hunter2"))


# -- Converse → canonical ------------------------------------------------------------------------
def _response(name: str) -> dict[str, Any]:
    body = (FIXTURES / f"{name}.json").read_bytes()
    return msgspec.to_builtins(BedrockAdapter().chat_response(body, endpoint()))


def test_text_response() -> None:
    response = _response("response_text")
    assert response["object"] == "chat.completion"
    assert response["model"] == MODEL
    assert response["id"].startswith("chatcmpl-")
    assert response["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello! How can I help you today?", "refusal": None},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ]
    assert response["usage"] == {"prompt_tokens": 12, "completion_tokens": 11, "total_tokens": 23}


def test_tool_use_response() -> None:
    choice = _response("response_tool_use")["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "I'll check the weather in Paris and Rome."
    calls = choice["message"]["tool_calls"]
    assert [(c["id"], c["type"], c["function"]["name"]) for c in calls] == [
        ("tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "function", "get_weather"),
        ("tooluse_Qm2x9pLkT3uYbW1cD4eFgH", "function", "get_weather"),
    ]
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [
        {"location": "Paris"},
        {"location": "Rome", "unit": "c"},
    ]


def test_guardrail_and_cache_usage_responses() -> None:
    assert _response("response_guardrail")["choices"][0]["finish_reason"] == "content_filter"
    cached = _response("response_cache_usage")
    assert cached["choices"][0]["finish_reason"] == "length"
    assert cached["choices"][0]["message"]["content"] == "Yes."  # reasoning blocks are not text
    assert cached["usage"] == {
        "prompt_tokens": 1220,
        "completion_tokens": 5,
        "total_tokens": 1225,
        "prompt_tokens_details": {"cached_tokens": 1000},
    }


def test_malformed_response_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamError, match="malformed"):
        BedrockAdapter().chat_response(b'{"output": 3}', endpoint())


# -- ConverseStream → canonical chunks --------------------------------------------------------------
TEXT_CHUNKS = [
    {"role": "assistant", "content": ""},
    {"content": "Hello"},
    {"content": "! How can I"},
    {"content": " help you today? ☕"},
]


def _split_cases(data: bytes) -> list[list[int] | None]:
    rng = random.Random(1234)
    return [None, [1] * len(data), [rng.randint(1, 40) for _ in range(len(data) // 5)]]


def test_text_stream_in_every_split() -> None:
    data = (FIXTURES / "stream_text.bin").read_bytes()
    results = []
    for sizes in _split_cases(data):
        chunks, decoder = feed_in_pieces(data, sizes)
        assert decoder.finished
        results.append(wire(chunks))
    assert results[0] == results[1] == results[2]
    chunks = results[0]
    assert [c["choices"][0]["delta"] for c in chunks[:4]] == TEXT_CHUNKS
    assert chunks[4]["choices"] == [{"index": 0, "delta": {}, "finish_reason": "stop", "logprobs": None}]
    assert chunks[5]["choices"] == []
    assert chunks[5]["usage"] == {"prompt_tokens": 12, "completion_tokens": 11, "total_tokens": 23}
    assert len(chunks) == 6
    assert all(c["model"] == MODEL and c["object"] == "chat.completion.chunk" for c in chunks)


def test_tool_use_stream() -> None:
    data = (FIXTURES / "stream_tool_use.bin").read_bytes()
    one_piece, _ = feed_in_pieces(data, None)
    byte_by_byte, decoder = feed_in_pieces(data, [1] * len(data))
    assert wire(one_piece) == wire(byte_by_byte)
    assert decoder.finished
    deltas = [c["choices"][0]["delta"] for c in wire(one_piece) if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert "".join(d.get("content", "") for d in deltas) == "I'll check the weather in Paris and Rome."
    calls = [call for d in deltas for call in d.get("tool_calls", [])]
    starts = [c for c in calls if "id" in c]
    assert starts == [
        {
            "index": 0,
            "id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
            "type": "function",
            "function": {"name": "get_weather", "arguments": ""},
        },
        {
            "index": 1,
            "id": "tooluse_Qm2x9pLkT3uYbW1cD4eFgH",
            "type": "function",
            "function": {"name": "get_weather", "arguments": ""},
        },
    ]
    for index, expected in ((0, {"location": "Paris"}), (1, {"location": "Rome", "unit": "c"})):
        fragments = [c["function"]["arguments"] for c in calls if c["index"] == index]
        assert all(fragments[1:]), "no empty argument fragments after the first"
        assert json.loads("".join(fragments)) == expected
    assert [c for c in wire(one_piece) if c["choices"]][-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert wire(one_piece)[-1]["usage"] == {
        "prompt_tokens": 402,
        "completion_tokens": 96,
        "total_tokens": 498,
    }


@pytest.mark.parametrize(
    ("name", "code", "message"),
    [
        ("stream_throttled", "upstream_rate_limited", "throttlingException: Too many tokens"),
        ("stream_model_error", "upstream_model_error", "modelStreamErrorException: Model stream error"),
        ("stream_error_frame", "upstream_error", "InternalFailure: An internal error occurred."),
    ],
)
def test_in_stream_exceptions_raise(name: str, code: str, message: str) -> None:
    data = (FIXTURES / f"{name}.bin").read_bytes()
    decoder = BedrockAdapter().chat_stream(endpoint())
    chunks: list[ChatChunk] = []
    with pytest.raises(UpstreamError) as info:
        for byte in data:
            chunks += decoder.feed(bytes([byte]))
    assert info.value.code == code
    assert message in info.value.message
    assert chunks, "the events before the exception were delivered"
    assert not decoder.finished


def test_cut_streams_are_not_finished() -> None:
    data = (FIXTURES / "stream_text.bin").read_bytes()
    ends = frame_ends(data)  # after messageStart, 3 deltas, contentBlockStop, messageStop, metadata
    assert len(ends) == 7
    for cut in (ends[4], ends[4] + 7, len(data) - 3):
        _, decoder = feed_in_pieces(data[:cut], None)
        assert not decoder.finished, cut
    # Ending cleanly right after messageStop, with no metadata event, still counts as finished.
    chunks, decoder = feed_in_pieces(data[: ends[5]], None)
    assert decoder.finished
    assert all(c.choices for c in chunks)


def test_corrupt_stream_raises() -> None:
    data = bytearray((FIXTURES / "stream_text.bin").read_bytes())
    data[40] ^= 0x01
    with pytest.raises(UpstreamError, match="corrupt event stream"):
        BedrockAdapter().chat_stream(endpoint()).feed(bytes(data))


# -- errors ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "case",
    fixture("errors.json"),
    ids=lambda c: f"{c['status']}-{c['headers'].get('x-amzn-ErrorType', 'body')[:30]}",
)
def test_error_bodies(case: dict[str, Any]) -> None:
    headers = {k.lower(): v for k, v in case["headers"].items()}
    error = BedrockAdapter().map_error(case["status"], headers, json.dumps(case["body"]).encode())
    expect = case["expect"]
    assert type(error) is getattr(errors, expect["class"])
    assert error.status == expect["status"]
    assert error.code == expect["code"]
    assert expect["message"] in error.message
    assert error.headers.get("retry-after") == expect.get("retry_after")


def test_embeddings_are_not_supported() -> None:
    with pytest.raises(InvalidRequestError, match="embeddings"):
        BedrockAdapter().embeddings_request(
            msgspec.convert({"model": "m", "input": "x"}, EmbeddingRequest), endpoint()
        )


# -- round trips against the mock -------------------------------------------------------------------
@pytest.fixture
def mock() -> tuple[MockState, httpx.AsyncClient]:
    state = MockState()
    app = Starlette(routes=routes(state))
    return state, httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://mock")


MOCK_ENDPOINT = {"base_url": "http://mock"}
WEATHER = fixture("request_tool_choice.json")["tools"]


async def _send(client: httpx.AsyncClient, request: ChatRequest, ep: Endpoint) -> httpx.Response:
    upstream = BedrockAdapter().chat_request(request, ep)
    return await client.post(upstream.url, headers=upstream.headers, content=upstream.body)


async def test_round_trip_plain_and_streamed(mock: tuple[MockState, httpx.AsyncClient]) -> None:
    state, client = mock
    ep = endpoint(**MOCK_ENDPOINT)
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there gateway"}]
    response = await _send(client, canonical({"model": "m", "messages": messages}), ep)
    assert response.status_code == 200
    assert state.last_path == f"/model/{MODEL}/converse"
    completion = BedrockAdapter().chat_response(response.content, ep)
    text = completion.choices[0].message.content or ""
    assert "hello there gateway" in text
    assert completion.choices[0].finish_reason == "stop"
    usage = completion.usage
    assert not isinstance(usage, msgspec.UnsetType)
    assert usage.completion_tokens == len(text.split())

    response = await _send(client, canonical({"model": "m", "messages": messages, "stream": True}), ep)
    assert response.headers["content-type"] == "application/vnd.amazon.eventstream"
    buffer = EventStreamBuffer()  # botocore can read the mock's frames
    buffer.add_data(response.content)
    frames = [json.loads(m.payload) for m in buffer]
    assert all("p" in f for f in frames), "every event carries padding"
    chunks, decoder = feed_in_pieces(response.content, [3] * (len(response.content) // 3))
    assert decoder.finished
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == text
    assert chunks[-1].usage == usage


async def test_round_trip_tools(mock: tuple[MockState, httpx.AsyncClient]) -> None:
    _, client = mock
    ep = endpoint(**MOCK_ENDPOINT)
    messages: list[dict[str, Any]] = [{"role": "user", "content": "weather in Paris?"}]
    first = BedrockAdapter().chat_response(
        (await _send(client, canonical({"model": "m", "messages": messages, "tools": WEATHER}), ep)).content,
        ep,
    )
    assert first.choices[0].finish_reason == "tool_calls"
    calls = first.choices[0].message.tool_calls
    assert not isinstance(calls, msgspec.UnsetType)
    assert json.loads(calls[0].function.arguments) == {"location": "Paris", "unit": "c"}
    messages.append(msgspec.to_builtins(first.choices[0].message))
    messages.append({"role": "tool", "tool_call_id": calls[0].id, "content": "sunny, 21C"})
    second = await _send(client, canonical({"model": "m", "messages": messages, "tools": WEATHER}), ep)
    assert second.status_code == 200, second.text
    assert "sunny, 21C" in (
        BedrockAdapter().chat_response(second.content, ep).choices[0].message.content or ""
    )


async def test_round_trip_image_and_json_schema(mock: tuple[MockState, httpx.AsyncClient]) -> None:
    state, client = mock
    ep = endpoint(**MOCK_ENDPOINT)
    image = fixture("request_image.json")["canonical"]
    assert (await _send(client, canonical(image), ep)).status_code == 200
    assert state.last_request is not None
    assert state.last_request["messages"][0]["content"][1]["image"]["format"] == "png"
    schema = fixture("request_json_schema.json")["canonical"]
    response = await _send(client, canonical(schema), ep)
    content = BedrockAdapter().chat_response(response.content, ep).choices[0].message.content
    assert json.loads(content or "") == {"city": "Paris", "population": 42}


async def test_mock_refuses_unsigned_requests(mock: tuple[MockState, httpx.AsyncClient]) -> None:
    _, client = mock
    body = json.dumps(fixture("request_plain.json")["converse"])
    response = await client.post(
        f"/model/{MODEL}/converse", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 403
    error = BedrockAdapter().map_error(response.status_code, dict(response.headers), response.content)
    assert error.code == "upstream_authentication_error"
    assert "Missing Authentication Token" in error.message


async def test_mock_faults_come_back_as_bedrock_errors(mock: tuple[MockState, httpx.AsyncClient]) -> None:
    state, client = mock
    ep = endpoint(**MOCK_ENDPOINT)
    request = canonical({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    state.fault = Fault(status=429, retry_after=3, count=1)
    response = await _send(client, request, ep)
    error = BedrockAdapter().map_error(response.status_code, dict(response.headers), response.content)
    assert (error.status, error.code, error.headers.get("retry-after")) == (429, "upstream_rate_limited", "3")
    assert "ThrottlingException" in error.message

    state.fault = Fault(drop_after_chunks=4)
    streamed = canonical(
        {"model": "m", "messages": [{"role": "user", "content": "hello there"}], "stream": True}
    )
    response = await _send(client, streamed, ep)
    chunks, decoder = feed_in_pieces(response.content, None)
    assert len(chunks) == 4
    assert not decoder.finished


async def test_mock_validates_like_converse(mock: tuple[MockState, httpx.AsyncClient]) -> None:
    """The mock rejects what Converse rejects, so adapter mistakes cannot hide behind it."""
    _, client = mock
    ep = endpoint(**MOCK_ENDPOINT)
    upstream = BedrockAdapter().chat_request(
        canonical({"model": "m", "messages": [{"role": "user", "content": "hi"}]}), ep
    )
    bad_bodies = [
        {
            "messages": [
                {"role": "user", "content": [{"text": "a"}]},
                {"role": "user", "content": [{"text": "b"}]},
            ]
        },
        {"messages": [{"role": "user", "content": [{"text": " "}]}]},
        {
            "messages": [
                {"role": "user", "content": [{"toolResult": {"toolUseId": "t", "content": [{"text": "x"}]}}]}
            ]
        },
    ]
    for body in bad_bodies:
        headers = dict(upstream.headers)
        response = await client.post(upstream.url, headers=headers, content=json.dumps(body))
        assert response.status_code == 400
        assert response.headers["x-amzn-errortype"].startswith("ValidationException:")


async def test_what_aiohttp_sends_is_what_was_signed() -> None:
    """AWS verifies SigV4 over the path exactly as received; aiohttp (our transport) re-quotes URLs,
    so the request is captured off a socket and re-verified the way AWS does it."""
    captured: dict[str, Any] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        request_line, *lines = head.strip().split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        captured.update(
            line=request_line, headers=headers, body=await reader.readexactly(int(headers["content-length"]))
        )
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    ep = endpoint(
        base_url=f"http://127.0.0.1:{port}",
        model="arn:aws:bedrock:us-east-1:1:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0",
        options={"access_key_id": "AKIDEXAMPLE", "secret_access_key": secret},
    )
    upstream = BedrockAdapter().chat_request(
        canonical({"model": "m", "messages": [{"role": "user", "content": "hi"}]}), ep
    )
    transport = HttpTransport()
    await transport.start()
    try:
        response = await transport.send(upstream, Timeouts(total=10), "bedrock")
    finally:
        await transport.close()
        server.close()
    assert response.status == 200
    method, raw_path, _ = captured["line"].split(" ")
    assert (
        raw_path
        == "/model/arn:aws:bedrock:us-east-1:1:inference-profile%2Fus.anthropic.claude-3-5-haiku-20241022-v1:0/converse"
    )
    sent = captured["headers"]
    auth = dict(
        part.split("=", 1) for part in sent["authorization"].removeprefix("AWS4-HMAC-SHA256 ").split(", ")
    )
    signed = auth["SignedHeaders"].split(";")
    canonical_request = "\n".join(
        [
            method,
            quote(raw_path, safe="/~"),  # AWS encodes the received path once more (all services but S3)
            "",
            *(f"{name}:{sent[name]}" for name in signed),
            "",
            auth["SignedHeaders"],
            hashlib.sha256(captured["body"]).hexdigest(),
        ]
    )
    amz_date = sent["x-amz-date"]
    scope = f"{amz_date[:8]}/us-east-1/bedrock/aws4_request"
    assert auth["Credential"] == f"AKIDEXAMPLE/{scope}"
    string_to_sign = (
        f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    )
    key = f"AWS4{secret}".encode()
    for part in (amz_date[:8], "us-east-1", "bedrock", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    assert auth["Signature"] == hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
