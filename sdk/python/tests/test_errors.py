"""Typed errors from Alfred's OpenAI-shaped error bodies and rate-limit headers (no gateway needed)."""

from __future__ import annotations

import json

import pytest
from alfred_sdk import (
    APIStatusError,
    AuthenticationError,
    ContentPolicyViolationError,
    InsufficientQuotaError,
    NotFoundError,
    RateLimitError,
    ServerError,
    parse_duration,
)
from alfred_sdk._errors import error_from_response


def body(code: str | None, message: str = "no", **extra: object) -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": "t", "param": None, "code": code, **extra}}
    ).encode()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("20ms", 0.02),
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("1m30.5s", 90.5),
        ("1h2m3s", 3723.0),
        ("7", 7.0),
        ("0s", 0.0),
    ],
)
def test_parse_duration_reads_go_durations_and_plain_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "1x", "5m junk"])
def test_parse_duration_refuses_what_it_cannot_read(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "content_policy_violation", ContentPolicyViolationError),
        (402, "insufficient_quota", InsufficientQuotaError),
        (429, "insufficient_quota", InsufficientQuotaError),  # OpenAI's habit: the code decides
        (401, "invalid_api_key", AuthenticationError),
        (404, "not_found", NotFoundError),
        (429, "rate_limit_exceeded", RateLimitError),
        (503, "service_unavailable", ServerError),
        (418, None, APIStatusError),
    ],
)
def test_error_class_follows_code_then_status(status: int, code: str | None, cls: type) -> None:
    error = error_from_response(status, body(code, request_id="req-1"), {})
    assert type(error) is cls
    assert (error.status, error.code, error.request_id) == (status, code, "req-1")


def test_rate_limit_error_carries_reset_times() -> None:
    headers = {
        "Retry-After": "2",
        "retry-after-ms": "1500",
        "x-ratelimit-reset-requests": "1m30.5s",
        "x-ratelimit-reset-tokens": "20ms",
        "x-request-id": "abc",
    }
    error = error_from_response(429, body("rate_limit_exceeded"), headers)
    assert isinstance(error, RateLimitError)
    assert error.retry_after == pytest.approx(1.5)
    assert error.resets == {"requests": pytest.approx(90.5), "tokens": pytest.approx(0.02)}
    assert error.request_id == "abc"  # from the header when the body has none


def test_a_body_that_is_not_json_still_makes_a_typed_error() -> None:
    error = error_from_response(502, b"<html>bad gateway</html>", {})
    assert isinstance(error, ServerError)
    assert "bad gateway" in error.message
