"""Per-provider timeouts and retries to the next deployment, through a real gateway process."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.servers import gateway


@pytest.fixture(scope="module")
def resilient_url(mock_url: str) -> Iterator[str]:
    with gateway("tests/fixtures/configs/resilience.yaml", env={"ALFRED_MOCK_URL": mock_url}) as url:
        yield url


@pytest.fixture
def client(resilient_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{resilient_url}/v1", api_key="unused", max_retries=0)


def test_hanging_upstream_hits_first_byte_timeout(client: openai.OpenAI, mock_control: httpx.Client) -> None:
    mock_control.post("/mock/faults", json={"hang": True, "path": "/v1/chat"}).raise_for_status()
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="quick", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 504
    assert time.monotonic() - started < 2.5  # one attempt (single deployment) bounded by the timeout


def test_stalled_stream_ends_with_idle_timeout_error_event(
    resilient_url: str, mock_control: httpx.Client
) -> None:
    mock_control.post("/mock/faults", json={"slow_chunk_ms": 1500, "path": "/v1/chat"}).raise_for_status()
    with httpx.Client(timeout=10) as http:
        response = http.post(
            f"{resilient_url}/v1/chat/completions",
            json={
                "model": "quick",
                "stream": True,
                "messages": [{"role": "user", "content": "mock:words=5"}],
            },
        )
    # the first chunk itself stalls: that is before the first byte, so the client gets a plain 504
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "stream_idle_timeout"


def test_dead_deployment_fails_over_to_the_live_one(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="failover", messages=[{"role": "user", "content": "hello"}]
    )
    assert raw.headers["x-alfred-provider"] == "live"
    assert "hello" in (raw.parse().choices[0].message.content or "")


def test_streaming_failover_before_first_byte(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="failover", messages=[{"role": "user", "content": "streamed"}], stream=True
    )
    assert "streamed" in "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
