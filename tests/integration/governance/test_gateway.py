"""Governance through a real gateway process on the embedded default (SQLite), driven by the ``openai``
SDK: keys are checked, wallets are charged what the provider reported, refusals come before the
upstream, retries never charge twice, streams are charged at their end."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.servers import gateway, mock_upstream

from .conftest import CONFIG, MASTER_KEY, TOKEN_PRICE, Books, gateway_env, until

CREDIT = 1_000_000


@pytest.fixture(scope="module")
def db_url(sqlite_url: str, leases: bool) -> str:
    return sqlite_url.replace(".db", "-leases.db") if leases else sqlite_url


@pytest.fixture(scope="module")
def mock(db_url: str) -> Iterator[str]:
    with mock_upstream() as url:
        yield url


@pytest.fixture(scope="module")
def base_url(mock: str, db_url: str, leases: bool) -> Iterator[str]:
    with gateway(CONFIG, env=gateway_env(mock, db_url, leases=leases)) as url:
        yield url


@pytest.fixture
def upstream(mock: str) -> Iterator[httpx.Client]:
    """The mock's control API; its counters start at zero and its faults are cleared after each test."""
    with httpx.Client(base_url=mock, timeout=10) as client:
        client.delete("/mock/stats")
        yield client
        client.delete("/mock/faults")


def client(base_url: str, key: str, **options: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, timeout=30, **options)  # type: ignore[arg-type]


def ask(words: int) -> dict[str, object]:
    """A `metered` request whose reply is exactly ``words`` tokens, the most it may produce."""
    return {
        "model": "metered",
        "messages": [{"role": "user", "content": f"mock:words={words}"}],
        "max_tokens": words,
    }


def upstream_requests(upstream: httpx.Client) -> int:
    return int(upstream.get("/mock/stats").json()["total"])


async def test_a_keyed_call_is_charged_what_it_used_and_says_so(
    base_url: str, books: Books, upstream: httpx.Client, leases: bool
) -> None:
    alice = await books.member("alice@gw.io", CREDIT)
    raw = client(base_url, alice.key).chat.completions.with_raw_response.create(**ask(5))  # type: ignore[call-overload]
    reply = raw.parse()
    assert reply.usage.completion_tokens == 5
    assert raw.headers["x-alfred-cost"] == "0.005"  # 5 tokens at 0.001 credit
    assert await books.wallet_at_rest(alice.wallet_id) == (CREDIT - 5 * TOKEN_PRICE, 0)
    [charge] = await books.charges(alice.wallet_id)
    assert charge.completion_tokens == 5 and charge.provider in ("mock", "mock-b")
    assert bool(await books.leases(alice.wallet_id)) == leases  # the hold came from a lease, or not


async def test_a_wallet_that_cannot_pay_is_refused_before_the_upstream(
    base_url: str, books: Books, upstream: httpx.Client
) -> None:
    bob = await books.member("bob@gw.io", 4 * TOKEN_PRICE)
    with pytest.raises(openai.APIStatusError) as refused:
        client(base_url, bob.key).chat.completions.create(**ask(5))  # type: ignore[call-overload]
    assert refused.value.status_code == 402
    assert refused.value.body["code"] == "insufficient_quota"  # type: ignore[index]
    assert upstream_requests(upstream) == 0
    client(base_url, bob.key).chat.completions.create(**ask(4))  # type: ignore[call-overload]  # the control
    assert upstream_requests(upstream) == 1
    assert await books.wallet_at_rest(bob.wallet_id) == (0, 0)


async def test_a_client_retry_with_the_same_request_id_is_not_charged_twice(
    base_url: str, books: Books, upstream: httpx.Client
) -> None:
    carol = await books.member("carol@gw.io", CREDIT)
    sdk = client(base_url, carol.key)
    headers = {"X-Request-ID": "carol-retry-1"}
    sdk.chat.completions.create(**ask(3), extra_headers=headers)  # type: ignore[call-overload]
    with pytest.raises(openai.ConflictError) as again:
        sdk.chat.completions.create(**ask(3), extra_headers=headers)  # type: ignore[call-overload]
    assert again.value.body["code"] == "duplicate_request"  # type: ignore[index]
    assert upstream_requests(upstream) == 1  # and the SDK did not retry the 409 either
    assert len(await books.charges(carol.wallet_id)) == 1
    assert await books.wallet_at_rest(carol.wallet_id) == (CREDIT - 3 * TOKEN_PRICE, 0)


async def test_a_router_retry_upstream_is_charged_once(
    base_url: str, books: Books, upstream: httpx.Client
) -> None:
    dave = await books.member("dave@gw.io", CREDIT)
    upstream.post("/mock/faults", json={"status": 503, "count": 1})
    client(base_url, dave.key, max_retries=0).chat.completions.create(**ask(3))  # type: ignore[call-overload]
    assert upstream_requests(upstream) == 2  # the first attempt failed, the router tried another
    assert len(await books.charges(dave.wallet_id)) == 1
    assert await books.wallet_at_rest(dave.wallet_id) == (CREDIT - 3 * TOKEN_PRICE, 0)


async def test_a_failed_call_costs_nothing(
    base_url: str, books: Books, upstream: httpx.Client, leases: bool
) -> None:
    erin = await books.member("erin@gw.io", CREDIT)
    upstream.post("/mock/faults", json={"status": 400})
    with pytest.raises(openai.BadRequestError):
        client(base_url, erin.key).chat.completions.create(**ask(3))  # type: ignore[call-overload]
    assert await books.wallet_at_rest(erin.wallet_id) == (CREDIT, 0)
    # A hold on a credit lease is released in memory: it never had a row of its own.
    assert set((await books.reservations(erin.user.id)).values()) == (set() if leases else {"released"})


async def test_a_stream_is_charged_at_its_end(base_url: str, books: Books, upstream: httpx.Client) -> None:
    frank = await books.member("frank@gw.io", CREDIT)
    stream = client(base_url, frank.key).chat.completions.create(  # type: ignore[call-overload]
        **ask(6), stream=True, stream_options={"include_usage": True}
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text.split() == [f"w{i}" for i in range(6)]

    async def settled() -> bool:  # the charge and the settled hold are one transaction
        return len(await books.charges(frank.wallet_id)) == 1

    await until(settled, what="the stream is charged")
    assert "open" not in (await books.reservations(frank.user.id)).values()
    assert await books.wallet_at_rest(frank.wallet_id) == (CREDIT - 6 * TOKEN_PRICE, 0)


async def test_a_client_that_leaves_a_stream_pays_for_what_was_generated(
    base_url: str, books: Books, upstream: httpx.Client
) -> None:
    grace = await books.member("grace@gw.io", CREDIT)
    upstream.post("/mock/faults", json={"slow_chunk_ms": 100})
    stream = client(base_url, grace.key).chat.completions.create(**ask(200), stream=True)  # type: ignore[call-overload]
    chunks = iter(stream)
    for _ in range(3):
        next(chunks)
    stream.close()  # the client goes away

    async def settled() -> bool:
        return len(await books.charges(grace.wallet_id)) == 1

    await until(settled, what="the abandoned stream is charged")
    assert "open" not in (await books.reservations(grace.user.id)).values()
    balance, reserved = await books.wallet_at_rest(grace.wallet_id)
    charged = CREDIT - balance
    assert reserved == 0
    assert 0 < charged < 200 * TOKEN_PRICE  # what was generated, not the worst case


async def test_callers_without_a_wallet(base_url: str, books: Books, upstream: httpx.Client) -> None:
    keyless = httpx.post(f"{base_url}/v1/chat/completions", json=ask(2), timeout=10)
    assert keyless.status_code == 401 and keyless.json()["error"]["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        client(base_url, "sk-alfred-not-a-key-that-exists").chat.completions.create(**ask(2))  # type: ignore[call-overload]
    raw = client(base_url, MASTER_KEY).chat.completions.with_raw_response.create(**ask(2))  # type: ignore[call-overload]
    assert "x-alfred-cost" not in raw.headers  # the master key has no wallet and is not metered
    assert upstream_requests(upstream) == 1


async def test_a_model_without_a_price_is_refused(
    base_url: str, books: Books, upstream: httpx.Client
) -> None:
    heidi = await books.member("heidi@gw.io", CREDIT)
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client(base_url, heidi.key).chat.completions.create(
            model="unpriced", messages=[{"role": "user", "content": "hi"}]
        )
    assert refused.value.body["code"] == "price_not_configured"  # type: ignore[index]
    assert upstream_requests(upstream) == 0


async def test_embeddings_are_charged_for_their_input(
    base_url: str, books: Books, upstream: httpx.Client
) -> None:
    ivan = await books.member("ivan@gw.io", CREDIT)
    raw = client(base_url, ivan.key).embeddings.with_raw_response.create(
        model="embed", input="three short words"
    )
    tokens = raw.parse().usage.prompt_tokens
    assert tokens > 0
    assert await books.wallet_at_rest(ivan.wallet_id) == (CREDIT - tokens * 100, 0)  # 1 USD per 1M = 100 µ¢
    assert raw.headers["x-alfred-cost"] == f"{tokens * 100 / 1_000_000:f}".rstrip("0")


async def test_the_admin_api_is_served_beside_the_data_plane(base_url: str, books: Books) -> None:
    response = httpx.get(f"{base_url}/admin/openapi.json", timeout=10)
    assert response.status_code == 200 and "/admin/users" in response.json()["paths"]
    # The admin app answers what the data plane does not serve; the data plane's own paths keep their 405.
    wrong_method = httpx.get(f"{base_url}/v1/chat/completions", timeout=10)
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]["code"] == "method_not_allowed"
    unknown = httpx.get(f"{base_url}/v1/nothing-here", timeout=10)
    assert unknown.status_code == 404 and unknown.json()["error"]["type"]


async def test_anthropic_messages_with_x_api_key_are_charged_too(
    base_url: str, books: Books, upstream: httpx.Client
) -> None:
    judy = await books.member("judy@gw.io", CREDIT)
    response = httpx.post(
        f"{base_url}/v1/messages",
        headers={"x-api-key": judy.key, "anthropic-version": "2023-06-01"},
        json={"model": "metered", "max_tokens": 3, "messages": [{"role": "user", "content": "mock:words=3"}]},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-alfred-cost"] == "0.003"
    assert await books.wallet_at_rest(judy.wallet_id) == (CREDIT - 3 * TOKEN_PRICE, 0)


async def test_a_key_rpm_limit_set_through_the_admin_api_holds_before_auth_runs(
    base_url: str, books: Books, upstream: httpx.Client
) -> None:
    """The seed's order runs the rate limiter before auth; a key's own rpm still applies (issue 5)."""
    kim = await books.member("kim@gw.io", CREDIT)
    created = httpx.post(
        f"{base_url}/admin/keys",
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        json={"user_id": kim.user.id, "name": "limited", "rpm_limit": 2},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    limited = client(base_url, created.json()["key"], max_retries=0)
    for _ in range(2):
        raw = limited.chat.completions.with_raw_response.create(**ask(1))  # type: ignore[call-overload]
        assert raw.headers["x-ratelimit-limit-requests"] == "2"
    with pytest.raises(openai.RateLimitError) as refused:
        limited.chat.completions.create(**ask(1))  # type: ignore[call-overload]
    assert refused.value.response.headers.get("retry-after")
    # Kim's other key has no limit of its own: the bucket is per key.
    client(base_url, kim.key, max_retries=0).chat.completions.create(**ask(1))  # type: ignore[call-overload]
