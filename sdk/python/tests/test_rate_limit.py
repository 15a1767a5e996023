"""A real 429 from the gateway (tests/sdk/sdk.yaml limits demo-chat-limited to 2 requests a minute)
becomes a RateLimitError with the retry time and reset times from its headers."""

from __future__ import annotations

import pytest
from alfred_sdk import Alfred, RateLimitError
from alfred_sdk._operations import Request

CHAT = Request(
    "POST",
    "/v1/chat/completions",
    json={"model": "demo-chat-limited", "messages": [{"role": "user", "content": "hi"}]},
)


def test_a_spent_rate_limit_is_typed_with_reset_times(client: Alfred) -> None:
    models = client.json(Request("GET", "/v1/models"))
    if "demo-chat-limited" not in {m["id"] for m in models["data"]}:
        pytest.skip("the gateway has no demo-chat-limited model (start it with tests/sdk/sdk.yaml)")
    with pytest.raises(RateLimitError) as caught:
        for _ in range(4):  # the bucket holds 2; other suites may have spent it already
            client.send(CHAT)
    error = caught.value
    assert error.status == 429 and error.code == "rate_limit_exceeded" and error.request_id
    assert error.retry_after is not None and 0 < error.retry_after <= 60
    assert 0 < error.resets["requests"] <= 60
