"""Abuse limits, each through a real gateway: body, header, message and ``n`` caps, slow clients
(slowloris on the head and on the body), concurrent streams per key, and the response cache's
memory bound. Limits are set small through the environment so each is reached in a few requests."""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.security.conftest import connect, dribble, limited_gateway, read_until_closed

HEADER_TIMEOUT_S = 1.5
BODY_TIMEOUT_S = 2.0
LIMITS = {
    "ALFRED_MASTER_KEY": "sk-abuse-master-" + secrets.token_hex(8),
    "ALFRED_ROUTING__BREAKER__ENABLED": "false",
    "ALFRED_SERVER__MAX_BODY_BYTES": "4096",
    "ALFRED_SERVER__MAX_MESSAGES": "8",
    "ALFRED_SERVER__MAX_N": "2",
    "ALFRED_SERVER__MAX_HEADER_BYTES": "4096",
    "ALFRED_SERVER__HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
    "ALFRED_SERVER__BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
    "ALFRED_STREAM_LIMIT__MAX_PER_KEY": "2",
    "ALFRED_CACHE__L1_MAX_ENTRIES": "3",
}
MODEL = "gpt-4o-mini"


@pytest.fixture(scope="module")
def limited() -> Iterator[tuple[str, str]]:
    with limited_gateway(LIMITS) as urls:
        yield urls


def chat(content: str = "hello", messages: int = 1, **extra: Any) -> dict[str, Any]:
    turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": content} for i in range(messages)]
    return {"model": MODEL, "messages": turns, **extra}


def upstream_calls(mock: str) -> int:
    return int(httpx.get(f"{mock}/mock/stats", timeout=5).json()["total"])


def assert_error(
    response: httpx.Response, status: int, code: str | None = None, param: str | None = None
) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    if status not in (408, 431):  # answered by the HTTP server itself, before any request id exists
        assert error["request_id"] == response.headers["x-request-id"]
    if code is not None:
        assert error["code"] == code, error
    if param is not None:
        assert error["param"] == param, error


# --- request size caps --------------------------------------------------------------------------


def test_body_cap_admits_the_limit_and_refuses_a_byte_more(limited: tuple[str, str]) -> None:
    url, mock = limited
    base = json.dumps(chat(""), separators=(",", ":"))
    exact = json.dumps(chat("x" * (4096 - len(base))), separators=(",", ":")).encode()
    assert len(exact) == 4096
    assert httpx.post(f"{url}/v1/chat/completions", content=exact, timeout=10).status_code == 200
    before = upstream_calls(mock)
    over = json.dumps(chat("x" * (4097 - len(base))), separators=(",", ":")).encode()
    assert_error(httpx.post(f"{url}/v1/chat/completions", content=over, timeout=10), 413, "request_too_large")

    def chunks() -> Iterator[bytes]:  # no content-length: the cap holds while reading
        yield over[:2000]
        yield over[2000:]

    assert_error(httpx.post(f"{url}/v1/embeddings", content=chunks(), timeout=10), 413, "request_too_large")
    assert upstream_calls(mock) == before


def test_message_and_n_caps(limited: tuple[str, str]) -> None:
    url, mock = limited
    with httpx.Client(base_url=url, timeout=10) as client:
        assert client.post("/v1/chat/completions", json=chat(messages=7)).status_code == 200
        assert client.post("/v1/chat/completions", json=chat(n=2)).status_code == 200
        before = upstream_calls(mock)
        assert_error(client.post("/v1/chat/completions", json=chat(messages=9)), 400, param="messages")
        assert_error(client.post("/v1/chat/completions", json=chat(n=3)), 400, param="n")
        assert_error(client.post("/v1/chat/completions", json=chat(n=0)), 400, param="n")
        anthropic = {"model": MODEL, "max_tokens": 16, "messages": chat(messages=9)["messages"]}
        response = client.post("/v1/messages", json=anthropic)
        assert response.status_code == 400 and response.json()["error"]["param"] == "messages"
        assert upstream_calls(mock) == before


def test_header_cap(limited: tuple[str, str]) -> None:
    url, _ = limited
    with httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/v1/models", headers={"x-pad": "a" * 3000}).status_code == 200
        assert_error(client.get("/v1/models", headers={"x-pad": "a" * 5000}), 431, "request_header_too_large")
        many = {f"x-pad-{i}": "b" * 40 for i in range(120)}  # ~6 KB in small headers
        assert_error(client.get("/v1/models", headers=many), 431, "request_header_too_large")
        assert client.get("/v1/models").status_code == 200  # the server is fine


def test_an_endless_head_is_cut_at_the_cap_not_buffered(limited: tuple[str, str]) -> None:
    url, _ = limited
    with connect(url) as sock:
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nhost: x\r\nx-pad: ")
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for _ in range(64):  # 1 MiB offered; the server must stop reading well before
                sock.sendall(b"a" * 16384)
        answer, closed = read_until_closed(sock, 5.0)
    assert closed and answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b'"code":"request_header_too_large"' in answer


# --- slow clients -------------------------------------------------------------------------------

HEAD = b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"


def test_slowloris_head_one_byte_a_second_is_cut_off(limited: tuple[str, str]) -> None:
    url, _ = limited
    with connect(url) as sock:
        sent, cut_after, answer = dribble(sock, HEAD + b"x-slow: " + b"z" * 100 + b"\r\n\r\n", 1.0, 30.0)
    assert cut_after < HEADER_TIMEOUT_S + 2.0, (sent, cut_after)
    assert sent <= HEADER_TIMEOUT_S + 2
    assert answer.startswith(b"HTTP/1.1 408 ") and b'"code":"request_timeout"' in answer, answer


def test_a_connection_that_says_nothing_is_closed(limited: tuple[str, str]) -> None:
    url, _ = limited
    started = time.monotonic()
    with connect(url) as sock:
        answer, closed = read_until_closed(sock, HEADER_TIMEOUT_S + 5.0)
    assert closed and time.monotonic() - started < HEADER_TIMEOUT_S + 2.0
    assert answer.startswith(b"HTTP/1.1 408 ")


def test_slow_body_is_cut_off(limited: tuple[str, str]) -> None:
    url, mock = limited
    body = json.dumps(chat("slow body")).encode()
    before = upstream_calls(mock)
    with connect(url) as sock:
        sock.sendall(HEAD + b"content-length: %d\r\n\r\n" % len(body))
        sent, cut_after, answer = dribble(sock, body, 0.5, 30.0)
    assert cut_after < BODY_TIMEOUT_S + 2.0 and sent < len(body), (sent, cut_after)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert upstream_calls(mock) == before


def test_honest_clients_keep_their_connection(limited: tuple[str, str]) -> None:
    url, _ = limited
    body = json.dumps(chat("two parts")).encode()
    with connect(url) as sock:
        for _ in range(3):  # keep-alive: several requests, each head and body in two writes
            sock.sendall(HEAD + b"content-length: %d\r\n\r\n" % len(body) + body[:10])
            sock.sendall(body[10:])
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = sock.recv(65536)
                assert chunk, answer
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]


# --- concurrent streams per key -----------------------------------------------------------------


def test_concurrent_streams_are_capped_per_key(limited: tuple[str, str]) -> None:
    url, mock = limited
    httpx.post(f"{mock}/mock/faults", json={"slow_chunk_ms": 200, "path": "/v1/chat/completions"}, timeout=5)
    key_a = {"authorization": "Bearer sk-client-a-" + secrets.token_hex(8)}
    key_b = {"x-api-key": "sk-client-b-" + secrets.token_hex(8)}
    long_stream = chat("mock:words=300 tell me a story", stream=True)
    try:
        with httpx.Client(base_url=url, timeout=30) as client, contextlib.ExitStack() as open_streams:
            streams = []
            for _ in range(2):
                stream = open_streams.enter_context(
                    client.stream("POST", "/v1/chat/completions", json=long_stream, headers=key_a)
                )
                assert stream.status_code == 200
                chunks = stream.iter_raw()  # kept: a dropped iterator closes its response
                assert next(chunks).startswith(b"data: ")
                streams.append((stream, chunks))
            refused = client.post("/v1/chat/completions", json=long_stream, headers=key_a)
            assert_error(refused, 429, "concurrent_streams_exceeded")
            assert refused.headers["retry-after"]
            # Other keys and non-streaming calls are not affected.
            with client.stream("POST", "/v1/chat/completions", json=long_stream, headers=key_b) as other:
                assert other.status_code == 200
            assert (
                client.post("/v1/chat/completions", json=chat("not streamed"), headers=key_a).status_code
                == 200
            )
            streams[0][0].close()  # the client hangs up: its slot must come back
            deadline = time.monotonic() + 10
            while True:
                with client.stream("POST", "/v1/chat/completions", json=long_stream, headers=key_a) as again:
                    if again.status_code == 200:
                        break
                assert time.monotonic() < deadline, "a closed stream never gave its slot back"
    finally:
        httpx.delete(f"{mock}/mock/faults", timeout=5)


# --- the response cache stays bounded -----------------------------------------------------------


def _cache_status(client: httpx.Client, prompt: str) -> str:
    response = client.post("/v1/chat/completions", json=chat(prompt, temperature=0))
    assert response.status_code == 200, response.text
    return response.headers.get("x-alfred-cache", "")


def test_exact_cache_keeps_at_most_l1_max_entries(limited: tuple[str, str]) -> None:
    url, _ = limited
    nonce = secrets.token_hex(4)
    prompts = [f"cache bound probe {nonce} number {i}" for i in range(4)]
    with httpx.Client(base_url=url, timeout=10) as client:
        assert [_cache_status(client, p) for p in prompts] == ["miss"] * 4
        assert _cache_status(client, prompts[3]) == "hit"
        assert _cache_status(client, prompts[0]) == "miss"  # the oldest of 4 went when the 4th came


def test_exact_cache_keeps_at_most_l1_max_bytes() -> None:
    env = {"ALFRED_MASTER_KEY": "k", "ALFRED_CACHE__L1_MAX_BYTES": "2048"}
    nonce = secrets.token_hex(4)
    prompts = [f"byte bound probe {nonce} number {i}" for i in range(20)]
    with limited_gateway(env) as (url, _), httpx.Client(base_url=url, timeout=10) as client:
        assert all(_cache_status(client, p) == "miss" for p in prompts)
        assert _cache_status(client, prompts[-1]) == "hit"
        # 20 entries are far below the entry cap (10,000): only the 2 KiB byte cap can have evicted it.
        assert _cache_status(client, prompts[0]) == "miss"
