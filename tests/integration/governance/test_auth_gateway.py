"""Auth through a real gateway process, driven by the official SDKs: missing, revoked and restricted keys
get OpenAI-format errors, Anthropic clients authenticate with ``x-api-key``, and a revocation made by
another process lands within the 1 s cache TTL."""

from __future__ import annotations

import time
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest

from tests.servers import gateway, mock_upstream

from .conftest import CONFIG, MASTER_KEY, Books, gateway_env

CREDIT = 1_000_000
UNKNOWN_KEY = "sk-alfred-" + "Z" * 43  # pragma: allowlist secret
CACHE_TTL_S = 1.0  # the default governance.auth.key_cache_ttl_s


@pytest.fixture(scope="module")
def db_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture(scope="module")
def base_url(db_url: str) -> Iterator[str]:
    with mock_upstream() as mock, gateway(CONFIG, env=gateway_env(mock, db_url)) as url:
        yield url


def client(base_url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, timeout=30, max_retries=0)


def chat(base_url: str, key: str, model: str = "metered") -> str | None:
    reply = client(base_url, key).chat.completions.create(
        model=model, messages=[{"role": "user", "content": "mock:words=3"}], max_tokens=3
    )
    return reply.choices[0].message.content


def error_body(exc: openai.APIStatusError) -> dict[str, object]:
    body = exc.body
    assert isinstance(body, dict)
    return body


async def test_a_call_without_a_key_is_a_401_in_openai_format(base_url: str) -> None:
    # The SDKs refuse to send no key at all, so this one goes by hand.
    payload = {"model": "metered", "messages": [{"role": "user", "content": "hi"}]}
    reply = httpx.post(f"{base_url}/v1/chat/completions", json=payload, timeout=30)
    assert reply.status_code == 401 and reply.headers["www-authenticate"].startswith("Bearer")
    error = reply.json()["error"]
    assert (error["code"], error["type"]) == ("invalid_api_key", "authentication_error")
    assert error["message"].startswith("missing API key")


async def test_an_unknown_key_is_refused_without_echoing_it(base_url: str) -> None:
    bogus = "sk-alfred-" + "Q" * 43
    with pytest.raises(openai.AuthenticationError) as caught:
        chat(base_url, bogus)
    assert bogus[10:] not in caught.value.response.text


async def test_a_revocation_in_another_process_lands_within_the_ttl(base_url: str, books: Books) -> None:
    member = await books.member("revoked@example.com", 10 * CREDIT)
    assert chat(base_url, member.key)  # now cached in the gateway
    created = await books.ledger.keys.list_for(member.user.id)
    await books.ledger.keys.revoke(created[0].id)
    revoked_at = time.monotonic()
    deadline = revoked_at + 30
    while True:
        started = time.monotonic()
        try:
            chat(base_url, member.key)
        except openai.AuthenticationError as exc:
            assert "revoked" in str(error_body(exc)["message"])
            break
        # Served from the cache: only a request that began within one TTL of the revocation may be.
        assert started - revoked_at < CACHE_TTL_S, "a revoked key was served after the cache TTL"
        assert started < deadline


async def test_a_key_restricted_to_some_models_gets_a_403_for_others(base_url: str, books: Books) -> None:
    member = await books.member("restricted@example.com", 10 * CREDIT)
    restricted = await books.ledger.keys.create(member.user.id, "embeddings only", allowed_models=["embed"])
    with pytest.raises(openai.PermissionDeniedError) as caught:
        chat(base_url, restricted.key)
    body = error_body(caught.value)
    assert body["code"] == "permission_denied" and "'metered'" in str(body["message"])
    vectors = client(base_url, restricted.key).embeddings.create(model="embed", input="hello")
    assert vectors.data


async def test_anthropic_clients_authenticate_with_x_api_key(base_url: str, books: Books) -> None:
    member = await books.member("claude@example.com", 10 * CREDIT)
    messages = anthropic.Anthropic(base_url=base_url, api_key=member.key, timeout=30, max_retries=0)
    reply = messages.messages.create(
        model="metered", max_tokens=3, messages=[{"role": "user", "content": "mock:words=3"}]
    )
    assert reply.content
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=base_url, api_key=UNKNOWN_KEY, max_retries=0).messages.create(
            model="metered", max_tokens=3, messages=[{"role": "user", "content": "hi"}]
        )


async def test_the_master_key_passes(base_url: str) -> None:
    assert chat(base_url, MASTER_KEY)
