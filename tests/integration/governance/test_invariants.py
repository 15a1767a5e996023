"""The issue's ledger invariants through real gateway processes on PostgreSQL, sharing Redis:

1. no overspend: a wallet that affords exactly N requests, hit by 5N at once through two gateways,
   serves N, never goes below its hard limit, and its entries sum to its balance;
2. no double charge when a client retries with the same request id, or the router retries upstream;
3. a gateway killed (-9) under load and restarted leaks no reservation past its expiry, loses no settled
   charge, and leaves an audit chain that verifies and a ledger that checks with drift 0.
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.servers import ROOT, free_port, gateway, mock_upstream, run_process

from .conftest import CONFIG, TOKEN_PRICE, Books, Member, fresh_postgres, gateway_env, until

N = 10
WORDS = 4
COST = WORDS * TOKEN_PRICE  # what one request reserves, and what it is charged
TTL_S = 3  # reservations of the killed gateway must expire this soon


@pytest.fixture(scope="module")
def db_url(leases: bool) -> Iterator[str]:
    with fresh_postgres() as url:  # one per variant: the two share no users
        yield url


@pytest.fixture(scope="module")
def mock(db_url: str) -> Iterator[str]:
    with mock_upstream() as url:
        yield url


def shared_env(mock: str, db_url: str, prefix: str, leases: bool, **extra: str) -> dict[str, str]:
    """Gateways that share PostgreSQL and Redis, as a scaled-out deployment does."""
    return gateway_env(
        mock,
        db_url,
        leases=leases,
        ALFRED_STATE__BACKEND="redis",
        ALFRED_STATE__REDIS__KEY_PREFIX=f"alfred-test-{prefix}:",
        **extra,
    )


@pytest.fixture(scope="module")
def two_gateways(mock: str, db_url: str, leases: bool) -> Iterator[tuple[str, str]]:
    env = shared_env(mock, db_url, uuid.uuid4().hex[:8], leases)
    with gateway(CONFIG, env=env) as first, gateway(CONFIG, env=env) as second:
        yield first, second


@pytest.fixture
def upstream(mock: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=mock, timeout=10) as client:
        client.delete("/mock/stats")
        yield client
        client.delete("/mock/faults")


def body(words: int = WORDS) -> dict[str, object]:
    return {
        "model": "metered",
        "messages": [{"role": "user", "content": f"mock:words={words}"}],
        "max_tokens": words,
    }


async def post(http: httpx.AsyncClient, base_url: str, member: Member, request_id: str | None = None) -> int:
    headers = {"authorization": f"Bearer {member.key}"}
    if request_id is not None:
        headers["x-request-id"] = request_id
    response = await http.post(f"{base_url}/v1/chat/completions", json=body(), headers=headers)
    return response.status_code


async def assert_books_balance(books: Books) -> None:
    report = await books.ledger.check()
    assert report.healthy and report.drift == 0, report.summary()
    verdict = await books.ledger.audit.verify()
    assert verdict.ok, verdict


async def test_no_overspend_through_two_gateways(
    two_gateways: tuple[str, str], books: Books, leases: bool
) -> None:
    credit = 2 * COST  # the wallet may go this far below zero, and no further
    hot = await books.member("hot@inv.io", (N - 2) * COST, hard_limit=-credit)
    async with httpx.AsyncClient(timeout=60) as http:
        codes = await asyncio.gather(*(post(http, two_gateways[i % 2], hot) for i in range(5 * N)))
    assert codes.count(200) == N, codes
    assert codes.count(402) == 4 * N
    balance, reserved = await books.wallet_at_rest(hot.wallet_id)
    assert (balance, reserved) == (-credit, 0)
    assert await books.lowest_balance(hot.wallet_id) >= -credit
    assert await books.entry_sum(hot.wallet_id) == balance  # the wallet started at 0
    assert sum(t.amount for t in await books.charges(hot.wallet_id)) == N * COST
    assert bool(await books.leases(hot.wallet_id)) == leases  # the lease variant did hold on leases
    await assert_books_balance(books)


async def test_no_double_charge_on_client_or_router_retries(
    two_gateways: tuple[str, str], books: Books, upstream: httpx.Client
) -> None:
    sam = await books.member("sam@inv.io", 100 * COST)
    async with httpx.AsyncClient(timeout=60) as http:
        # The client retries through the other gateway, and twice at once: one charge.
        assert await post(http, two_gateways[0], sam, "sam-1") == 200
        retries = await asyncio.gather(*(post(http, g, sam, "sam-1") for g in (*two_gateways, *two_gateways)))
        assert retries == [409] * 4
        # The router retries upstream after a 503: one charge.
        upstream.post("/mock/faults", json={"status": 503, "count": 1})
        assert await post(http, two_gateways[1], sam, "sam-2") == 200
    assert int(upstream.get("/mock/stats").json()["total"]) == 3
    assert len(await books.charges(sam.wallet_id)) == 2
    assert await books.wallet_at_rest(sam.wallet_id) == (98 * COST, 0)
    await assert_books_balance(books)


async def test_a_killed_gateway_leaks_no_reservation_and_loses_no_charge(
    mock: str, db_url: str, books: Books, upstream: httpx.Client, leases: bool
) -> None:
    kim = await books.member("kim@inv.io", 100 * COST)
    env = shared_env(
        mock,
        db_url,
        uuid.uuid4().hex[:8],
        leases,
        ALFRED_TEST_RESERVATION_TTL_S=str(TTL_S),
        ALFRED_TEST_RECONCILE_INTERVAL_S="1",
        ALFRED_TEST_LEASE_TTL_S=str(TTL_S),
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ["serve", "--config", str(ROOT / CONFIG), "--port", str(port), "--log-level", "warning"]
    async with httpx.AsyncClient(timeout=60) as http:
        with run_process(args, f"{url}/health/live", env=env) as victim:
            # With leases on, only requests whose id the gateway makes hold on a lease: send none.
            served = [f"kim-done-{i}" for i in range(5)]
            for request_id in served:
                assert await post(http, url, kim, None if leases else request_id) == 200
            upstream.post("/mock/faults", json={"latency_ms": 5000})
            seen = int(upstream.get("/mock/stats").json()["total"])
            load = [
                asyncio.create_task(post(http, url, kim, None if leases else f"kim-load-{i}"))
                for i in range(8)
            ]

            async def all_held() -> bool:
                if leases:  # held in the victim's memory: they are upstream once they all hold
                    return int(upstream.get("/mock/stats").json()["total"]) == seen + len(load)
                states = await books.reservations(kim.user.id)
                return list(states.values()).count("open") == len(load)

            await until(all_held, what="the load holds its reservations")
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(timeout=10)
            outcomes = await asyncio.gather(*load, return_exceptions=True)
            assert all(isinstance(o, httpx.HTTPError) for o in outcomes), outcomes
        upstream.delete("/mock/faults")
        balance, reserved = await books.wallet(kim.wallet_id)
        assert balance == 95 * COST  # the dead process's holds are still there…
        assert reserved == 8 * COST if not leases else reserved >= 8 * COST  # (its lease covers them)

        with run_process(args, f"{url}/health/live", env=env):  # …until a restarted gateway reconciles them

            async def none_open() -> bool:
                if "open" in (await books.reservations(kim.user.id)).values():
                    return False
                return "open" not in (await books.leases(kim.wallet_id)).values()

            await until(none_open, deadline_s=TTL_S + 30, what="the killed gateway's reservations expire")
            assert await post(http, url, kim, None if leases else "kim-after") == 200  # and it serves again

    states = await books.reservations(kim.user.id)
    expired = sorted(k for k, v in states.items() if v == "expired")
    charges = await books.charges(kim.wallet_id)
    if leases:  # the load held on the victim's lease, which expired: no rows of their own
        assert states == {}  # leased requests write their charge, no reservation row of their own
        victim_leases = {
            k: v for k, v in (await books.leases(kim.wallet_id)).items() if f"-{victim.pid}-" in k
        }
        assert victim_leases and set(victim_leases.values()) == {"expired"}, victim_leases
        assert len(charges) == 6 and sum(t.amount for t in charges) == 6 * COST  # no settled charge lost
    else:
        assert expired == sorted(f"u{kim.user.id}/kim-load-{i}" for i in range(8))
        charged = {t.request_id for t in charges}
        assert charged == {f"u{kim.user.id}/{rid}" for rid in (*served, "kim-after")}  # none lost
    assert await books.wallet_at_rest(kim.wallet_id) == (94 * COST, 0)
    await assert_books_balance(books)
