"""Bad input gets a clear OpenAI-format error with the right status, and never reaches a provider."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import MASTER_KEY

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
GOOD_MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def http(gateway_url: str) -> httpx.Client:
    with httpx.Client(base_url=gateway_url, headers=AUTH, timeout=30) as client:
        yield client


def _upstream_total(mock_control: httpx.Client) -> int:
    return int(mock_control.get("/mock/stats").json()["total"])


def _assert_openai_error(
    response: httpx.Response, status: int, code: str | None = None, param: str | None = None
) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    error = body["error"]
    assert set(error) >= {"message", "type", "param", "code"}
    assert error["message"]
    assert response.headers["x-request-id"]
    if code is not None:
        assert error["code"] == code
    if param is not None:
        assert error["param"] == param
    return error


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b'{"model": "gpt-4o-mini", "messages": [', None),  # truncated JSON
        (b"not json at all", None),
        (b"[1, 2, 3]", None),  # JSON, but not an object
        (b"", None),
        (b'{"model": "gpt-4o-mini"}', None),  # missing messages
        (b'{"model": "gpt-4o-mini", "messages": []}', "messages"),
        (b'{"model": "gpt-4o-mini", "messages": "hello"}', "messages"),  # wrong type
        (b'{"model": 42, "messages": [{"role": "user", "content": "x"}]}', "model"),
        (b'{"model": "gpt-4o-mini", "messages": [{"role": "wizard", "content": "x"}]}', "messages[0].role"),
        (
            b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}',
            "temperature",
        ),
        (
            b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "temperature": 9}',
            "temperature",
        ),
        (b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "n": 1000}', "n"),
        (
            b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}',
            "max_tokens",
        ),
        (
            b'{"model": "gpt-4o-mini", "messages": [{"role": "tool", "content": "x"}]}',
            "messages[0].tool_call_id",
        ),
        (b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "\xff\xfe bad utf8"}]}', None),
    ],
)
def test_malformed_requests_are_400_and_never_reach_upstream(
    http: httpx.Client, mock_control: httpx.Client, body: bytes, param: str | None
) -> None:
    before = _upstream_total(mock_control)
    response = http.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
    error = _assert_openai_error(response, 400, param=param)
    assert error["type"] == "invalid_request_error"
    assert _upstream_total(mock_control) == before


def test_invalid_utf8_says_so(http: httpx.Client) -> None:
    response = http.post("/v1/chat/completions", content=b'{"model": "gpt-4o-mini", "messages": "\xc3\x28"}')
    assert "UTF-8" in _assert_openai_error(response, 400)["message"]


def test_unknown_model_is_404_and_never_reaches_upstream(
    http: httpx.Client, mock_control: httpx.Client
) -> None:
    before = _upstream_total(mock_control)
    response = http.post("/v1/chat/completions", json={"model": "gpt-99", "messages": GOOD_MESSAGES})
    _assert_openai_error(response, 404, code="model_not_found", param="model")
    assert _upstream_total(mock_control) == before


def test_huge_body_is_413_and_never_reaches_upstream(http: httpx.Client, mock_control: httpx.Client) -> None:
    before = _upstream_total(mock_control)
    content = "x" * (10 * 1024 * 1024)
    response = http.post(
        "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]},
    )
    _assert_openai_error(response, 413, code="request_too_large")
    assert _upstream_total(mock_control) == before


def test_huge_chunked_body_without_content_length_is_413(http: httpx.Client) -> None:
    def chunks():
        for _ in range(11):
            yield b"x" * (1024 * 1024)

    response = http.post("/v1/chat/completions", content=chunks())
    _assert_openai_error(response, 413)


def test_embedding_model_refuses_chat(http: httpx.Client) -> None:
    response = http.post(
        "/v1/chat/completions", json={"model": "text-embedding-3-small", "messages": GOOD_MESSAGES}
    )
    _assert_openai_error(response, 400, param="model")


def test_bad_embedding_input(http: httpx.Client) -> None:
    response = http.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": [1, "mixed"]})
    _assert_openai_error(response, 400, param="input")


def test_unknown_path_and_wrong_method(http: httpx.Client) -> None:
    _assert_openai_error(http.get("/v1/nothing-here"), 404)
    _assert_openai_error(http.get("/v1/chat/completions"), 405)


def test_unknown_fields_pass_through_to_openai_compatible_upstreams(
    http: httpx.Client, mock_control: httpx.Client
) -> None:
    response = http.post(
        "/v1/chat/completions",
        json={
            "model": "gpt-4o-mini",
            "messages": GOOD_MESSAGES,
            "service_tier": "flex",
            "metadata": {"a": "b"},
        },
    )
    assert response.status_code == 200
    seen = mock_control.get("/mock/last").json()["body"]
    assert seen["service_tier"] == "flex"
    assert seen["metadata"] == {"a": "b"}
    assert seen["model"] == "gpt-4o-mini"
