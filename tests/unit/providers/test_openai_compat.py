"""OpenAI-format adapter: requests out, responses and streams in, with each dialect's quirks."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from alfred.errors import InvalidRequestError, RateLimitError, UpstreamError
from alfred.providers.base import Endpoint
from alfred.providers.openai_compat import FLAVORS, OpenAICompatAdapter
from alfred.schema import ChatChunk, ChatRequest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "openai"


def endpoint(kind: str, **kw: str) -> Endpoint:
    return Endpoint(
        provider=kind,
        kind=kind,
        base_url=kw.pop("base_url", "https://up.example/v1"),
        model=kw.pop("model", "m-up"),
        api_key="k-123",
        **kw,
    )  # type: ignore[arg-type]


def request(**fields: object) -> ChatRequest:
    body = {"model": "public", "messages": [{"role": "user", "content": "hi"}], **fields}
    return msgspec.convert(body, ChatRequest)


def decode(kind: str, raw: bytes, split: int | None = None) -> tuple[list[ChatChunk], bool]:
    decoder = OpenAICompatAdapter(FLAVORS[kind]).chat_stream(endpoint(kind))
    pieces = [raw] if split is None else [raw[i : i + split] for i in range(0, len(raw), split)]
    chunks: list[ChatChunk] = []
    for piece in pieces:
        chunks.extend(decoder.feed(piece))
    chunks.extend(decoder.close())
    return chunks, decoder.finished


def test_openai_request_swaps_model_and_asks_for_stream_usage() -> None:
    adapter = OpenAICompatAdapter(FLAVORS["openai"])
    req = request(stream=True, temperature=0.2)
    req.extra = {"service_tier": "flex"}
    out = adapter.chat_request(req, endpoint("openai"))
    body = json.loads(out.body or b"")
    assert out.url == "https://up.example/v1/chat/completions"
    assert out.headers["authorization"] == "Bearer k-123"
    assert body["model"] == "m-up"
    assert body["stream_options"] == {"include_usage": True}
    assert body["service_tier"] == "flex"
    assert "extra" not in body


def test_non_stream_request_drops_stream_fields() -> None:
    body = json.loads(
        OpenAICompatAdapter(FLAVORS["openai"]).chat_request(request(), endpoint("openai")).body or b""
    )
    assert "stream" not in body and "stream_options" not in body


def test_azure_addresses_the_deployment_and_uses_api_key_header() -> None:
    out = OpenAICompatAdapter(FLAVORS["azure"]).chat_request(
        request(),
        endpoint("azure", base_url="https://res.openai.azure.com", model="prod-4o", api_version="2024-10-21"),
    )
    assert (
        out.url
        == "https://res.openai.azure.com/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21"
    )
    assert out.headers["api-key"] == "k-123"
    assert "authorization" not in out.headers
    assert "model" not in json.loads(out.body or b"")


@pytest.mark.parametrize("split", [None, 1, 7])
def test_openai_stream_with_usage_and_obfuscation(split: int | None) -> None:
    chunks, finished = decode("openai", (FIXTURES / "stream_include_usage.txt").read_bytes(), split)
    assert finished
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello there"
    assert chunks[-1].choices == [] and chunks[-1].usage
    assert chunks[-1].usage.completion_tokens == 2  # type: ignore[union-attr]


def test_azure_content_filter_preamble_is_skipped_and_model_comes_later() -> None:
    chunks, finished = decode("azure", (FIXTURES / "azure_stream.txt").read_bytes())
    assert finished
    assert all(c.model == "gpt-4o-2024-08-06" for c in chunks)
    assert all(c.id == "chatcmpl-az1" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"


def test_together_eos_maps_to_stop_and_usage_rides_the_last_chunk() -> None:
    chunks, _ = decode("together", (FIXTURES / "together_stream.txt").read_bytes())
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.usage and last.usage.total_tokens == 12  # type: ignore[union-attr]


def test_groq_usage_from_x_groq() -> None:
    chunks, _ = decode("groq", (FIXTURES / "groq_stream.txt").read_bytes())
    assert chunks[-1].usage and chunks[-1].usage.prompt_tokens == 9  # type: ignore[union-attr]


def test_mistral_null_id_and_tgi_repeated_ids_are_set_once() -> None:
    for kind, name in (("mistral", "mistral_tool_stream.txt"), ("huggingface", "tgi_tool_stream.txt")):
        chunks, finished = decode(kind, (FIXTURES / name).read_bytes(), 5)
        assert finished
        ids = [t.id for c in chunks for ch in c.choices for t in ch.delta.tool_calls or [] if t.id]
        assert len(ids) == 1, (kind, ids)
        args = "".join(
            t.function.arguments or ""
            for c in chunks
            for ch in c.choices
            for t in ch.delta.tool_calls or []
            if t.function
        )
        assert json.loads(args) == {"location": "Paris"}


def test_cut_stream_is_not_finished() -> None:
    raw = (FIXTURES / "stream_include_usage.txt").read_bytes()
    _, finished = decode("openai", raw[: raw.index(b"[DONE]") - 8])
    assert not finished


def test_in_stream_error_raises() -> None:
    decoder = OpenAICompatAdapter(FLAVORS["openai"]).chat_stream(endpoint("openai"))
    with pytest.raises(UpstreamError, match="overloaded"):
        decoder.feed(b'data: {"error": {"message": "overloaded", "type": "server_error"}}\n\n')


def test_response_with_empty_id_and_tool_calls() -> None:
    adapter = OpenAICompatAdapter(FLAVORS["huggingface"])
    body = (FIXTURES / "tgi_response.json").read_bytes()
    response = adapter.chat_response(body, endpoint("huggingface"))
    assert response.id.startswith("chatcmpl-")
    assert response.choices[0].message.tool_calls[0].function.name == "get_weather"  # type: ignore[index]


@pytest.mark.parametrize(
    ("status", "body", "cls", "code"),
    [
        (
            429,
            b'{"error": {"message": "Rate limit reached", "type": "requests"}}',
            RateLimitError,
            "upstream_rate_limited",
        ),
        (
            400,
            b'{"error": {"message": "bad param", "type": "invalid_request_error"}}',
            InvalidRequestError,
            "invalid_request",
        ),
        (500, b"<html>oops</html>", UpstreamError, "upstream_error"),
        (401, b'{"error": {"message": "Incorrect API key"}}', UpstreamError, "upstream_authentication_error"),
    ],
)
def test_errors_map_to_the_family(status: int, body: bytes, cls: type, code: str) -> None:
    error = OpenAICompatAdapter(FLAVORS["openai"]).map_error(status, {"retry-after": "3"}, body)
    assert isinstance(error, cls)
    assert error.code == code
    if status == 429:
        assert error.headers["retry-after"] == "3"
    if status == 401:
        assert error.status == 502  # the gateway's credential problem, not the caller's
