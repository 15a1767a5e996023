"""examples/mock.yaml's defaults: exact cache for temperature 0, PII masked, secrets blocked."""

from __future__ import annotations

import json
import uuid

import httpx
import openai
import pytest

from tests.conftest import MASTER_KEY

AWS_SECRET = "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
PRIVATE_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1234567890abcdefghij\n-----END RSA PRIVATE KEY-----"
)


@pytest.fixture
def client(gateway_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=MASTER_KEY, max_retries=0)


def test_temperature_zero_repeat_is_a_cache_hit(client: openai.OpenAI, mock_control: httpx.Client) -> None:
    messages = [{"role": "user", "content": f"cache me {uuid.uuid4()}"}]
    first = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=messages, temperature=0
    )
    before = mock_control.get("/mock/stats").json()["total"]
    second = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=messages, temperature=0
    )
    assert first.headers["x-alfred-cache"] == "miss"
    assert second.headers["x-alfred-cache"] == "hit"
    assert mock_control.get("/mock/stats").json()["total"] == before  # the upstream was not called
    assert second.parse().choices[0].message.content == first.parse().choices[0].message.content


def test_streamed_repeat_is_replayed_from_the_cache(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": f"stream cache {uuid.uuid4()}"}]
    first = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, temperature=0, stream=True
        )
        if c.choices
    )
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=messages, temperature=0, stream=True
    )
    assert raw.headers["x-alfred-cache"] == "hit"
    second = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert second == first


def test_no_cache_header_bypasses(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": f"bypass {uuid.uuid4()}"}]
    client.chat.completions.create(model="gpt-4o-mini", messages=messages, temperature=0)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=messages, temperature=0, extra_headers={"Cache-Control": "no-cache"}
    )
    assert raw.headers["x-alfred-cache"] == "bypass"


def test_pii_is_masked_before_the_provider_and_restored_after(
    client: openai.OpenAI, mock_control: httpx.Client
) -> None:
    prompt = "Email jane.doe@example.com, card 4111 1111 1111 1111, please."
    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}]
    )
    seen = json.dumps(mock_control.get("/mock/last").json()["body"])
    assert "jane.doe@example.com" not in seen
    assert "4111 1111 1111 1111" not in seen
    assert "<EMAIL_1>" in seen
    # the mock echoes the prompt: the client gets its own values back
    assert "jane.doe@example.com" in (completion.choices[0].message.content or "")


@pytest.mark.parametrize("secret", [AWS_SECRET, PRIVATE_KEY])
def test_secrets_are_blocked_and_never_echoed(
    client: openai.OpenAI, mock_control: httpx.Client, secret: str
) -> None:
    before = mock_control.get("/mock/stats").json()["total"]
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": f"here: {secret}"}]
        )
    assert info.value.code == "content_policy_violation"
    body = info.value.response.text
    assert "wJalrXUtnFEMI" not in body and "MIIEpAIBAAKCAQEA" not in body
    assert mock_control.get("/mock/stats").json()["total"] == before
