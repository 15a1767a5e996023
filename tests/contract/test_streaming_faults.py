"""Streams that fail: cut after the first byte, a client that leaves, upstream errors before the first byte."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from tests.conftest import MASTER_KEY


def _poll(predicate, deadline_s: float = 10.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met before the deadline")


@pytest.fixture
def client(gateway_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=MASTER_KEY, max_retries=0)


def test_stream_cut_after_first_byte_ends_with_an_error_event(
    client: openai.OpenAI, mock_control: httpx.Client
) -> None:
    mock_control.post("/mock/faults", json={"drop_after_chunks": 3, "path": "/v1/chat"}).raise_for_status()
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "mock:words=50"}], stream=True
    )
    received = ""
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            for choice in chunk.choices:
                received += choice.delta.content or ""
    assert "ended before" in str(info.value.message)
    assert received  # the first bytes did arrive: this is a cut, not a refusal


def test_stream_cut_raw_frames_have_no_done_marker(gateway_url: str, mock_control: httpx.Client) -> None:
    mock_control.post("/mock/faults", json={"drop_after_chunks": 2, "path": "/v1/chat"}).raise_for_status()
    with httpx.Client(timeout=10) as http:
        response = http.post(
            f"{gateway_url}/v1/chat/completions",
            headers={"authorization": f"Bearer {MASTER_KEY}"},
            json={
                "model": "gpt-4o-mini",
                "stream": True,
                "messages": [{"role": "user", "content": "mock:words=20"}],
            },
        )
    frames = [line for line in response.text.split("\n\n") if line]
    assert frames[-1].startswith('data: {"error"')
    assert "[DONE]" not in response.text


def test_client_disconnect_cancels_the_upstream(gateway_url: str, mock_control: httpx.Client) -> None:
    mock_control.delete("/mock/stats")
    mock_control.post("/mock/faults", json={"slow_chunk_ms": 50, "path": "/v1/chat"}).raise_for_status()
    with (
        httpx.Client(timeout=10) as http,
        http.stream(
            "POST",
            f"{gateway_url}/v1/chat/completions",
            headers={"authorization": f"Bearer {MASTER_KEY}"},
            json={
                "model": "gpt-4o-mini",
                "stream": True,
                "messages": [{"role": "user", "content": "mock:words=400"}],
            },
        ) as response,
    ):
        lines = response.iter_lines()
        for _ in range(3):
            next(lines)
        # leaving the block closes the connection mid-stream
    _poll(lambda: mock_control.get("/mock/stats").json()["streams"]["cancelled"] >= 1)
    stats = mock_control.get("/mock/stats").json()["streams"]
    assert stats["completed"] == 0


def test_upstream_500_before_first_byte_is_an_openai_error(
    client: openai.OpenAI, mock_control: httpx.Client
) -> None:
    mock_control.post("/mock/faults", json={"status": 500, "path": "/v1/chat"}).raise_for_status()
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], stream=True
        )
    assert info.value.status_code == 502
    assert info.value.response.headers["x-request-id"]


def test_upstream_429_keeps_retry_after(client: openai.OpenAI, mock_control: httpx.Client) -> None:
    mock_control.post(
        "/mock/faults", json={"status": 429, "retry_after": 7, "path": "/v1/chat"}
    ).raise_for_status()
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert info.value.response.headers["retry-after"] == "7"
