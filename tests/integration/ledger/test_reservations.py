"""Invariants 2 and 3: reserve/settle/release are idempotent per request id, and reservations whose
process died expire and are reconciled, leaving a ledger that checks out at drift 0."""

from __future__ import annotations

import asyncio

import pytest

from alfred.errors import InsufficientQuotaError, InvalidRequestError, NotFoundError
from alfred.ledger import Ledger

from .conftest import Backend, Clock
from .seed import count_transactions, entry_sum, wallet


async def test_reserve_twice_holds_once(ledger: Ledger) -> None:
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=1_000)
    first = await ledger.governance.reserve(user.id, "r1", 400)
    again = await ledger.governance.reserve(user.id, "r1", 400)
    assert not first.replayed and again.replayed
    assert again.wallet_id == first.wallet_id and again.amount == 400
    info = await ledger.accounts.get(wallet(user))
    assert info.reserved == 400


async def test_settle_twice_charges_once(ledger: Ledger) -> None:
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=1_000)
    await ledger.governance.reserve(user.id, "r1", 400)
    first = await ledger.wallets.settle(
        "r1", 300, model="gpt-4o-mini", prompt_tokens=100, completion_tokens=50
    )
    again = await ledger.wallets.settle("r1", 300)
    assert (first.charged, first.replayed) == (300, False)
    assert (again.charged, again.replayed, again.transaction_id) == (300, True, first.transaction_id)
    info = await ledger.accounts.get(wallet(user))
    assert (info.balance, info.reserved) == (700, 0)
    assert await count_transactions(ledger, type="charge") == 1
    assert (await ledger.directory.get_user(user.id)).used_tokens == 150
    # A release after the settle changes nothing.
    released = await ledger.wallets.release("r1")
    assert released is not None and released.state == "settled" and released.replayed
    assert (await ledger.accounts.get(wallet(user))).balance == 700
    assert (await ledger.check()).healthy


async def test_release_twice_frees_once(ledger: Ledger) -> None:
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=1_000)
    await ledger.governance.reserve(user.id, "r1", 400)
    await ledger.governance.reserve(user.id, "r2", 100)
    first = await ledger.wallets.release("r1")
    again = await ledger.wallets.release("r1")
    assert first is not None and first.state == "released" and not first.replayed
    assert again is not None and again.replayed
    info = await ledger.accounts.get(wallet(user))
    assert (info.balance, info.reserved) == (1_000, 100)
    assert await ledger.wallets.release("never-reserved") is None
    with pytest.raises(InvalidRequestError) as err:
        await ledger.wallets.settle("r1", 10)  # released means failed: it is not charged later
    assert err.value.code == "reservation_closed"
    with pytest.raises(NotFoundError):
        await ledger.wallets.settle("never-reserved", 10)
    assert (await ledger.check()).healthy


async def test_concurrent_duplicates_from_two_pools(backend: Backend, ledger: Ledger) -> None:
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=1_000)
    other = backend.ledger()
    try:
        gateways = [ledger, other]
        holds = await asyncio.gather(
            *(gateways[i % 2].governance.reserve(user.id, "dup", 300) for i in range(10))
        )
        assert sum(not h.replayed for h in holds) == 1
        assert (await ledger.accounts.get(wallet(user))).reserved == 300
        charges = await asyncio.gather(*(gateways[i % 2].wallets.settle("dup", 250) for i in range(10)))
        assert sum(not c.replayed for c in charges) == 1
        assert {c.transaction_id for c in charges} == {charges[0].transaction_id}
    finally:
        await other.close()
    info = await ledger.accounts.get(wallet(user))
    assert (info.balance, info.reserved) == (750, 0)
    assert await count_transactions(ledger, type="charge") == 1
    assert (await ledger.check()).healthy


async def test_expired_reservation_is_reconciled(ledger: Ledger, clock: Clock) -> None:
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=1_000)
    await ledger.governance.reserve(user.id, "dead-process", 600)
    await ledger.governance.reserve(user.id, "alive", 100)
    assert await ledger.wallets.reconcile_expired() == []  # nothing is due yet
    clock.advance(seconds=61)  # past the 60 s TTL the fixture configures: both look abandoned
    report = await ledger.check()
    assert not report.healthy
    assert {p.kind for p in report.problems} == {"stale_reservation"}
    assert report.drift == 0  # stale holds are not lost money, just money nobody can use
    expired = await ledger.wallets.reconcile_expired()
    assert sorted(h.request_id for h in expired) == ["alive", "dead-process"]
    info = await ledger.accounts.get(wallet(user))
    assert (info.balance, info.reserved) == (1_000, 0)
    assert await ledger.wallets.reconcile_expired() == []
    # The slow request that outlived its reservation still pays when it finishes.
    late = await ledger.wallets.settle("alive", 80)
    assert late.charged == 80
    report = await ledger.check()
    assert report.healthy and report.summary().startswith("drift 0"), report.summary()
    assert (await ledger.accounts.get(wallet(user))).balance == 920


async def test_cost_beyond_the_wallet_is_capped_at_the_hard_limit(ledger: Ledger) -> None:
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=1_000)
    await ledger.governance.reserve(user.id, "r1", 500)
    await ledger.governance.reserve(user.id, "r2", 300)
    charge = await ledger.wallets.settle("r1", 900)  # the estimate was far too low
    # r2 still holds 300: r1 may take at most 1_000 - 300 = 700.
    assert (charge.cost, charge.charged, charge.shortfall) == (900, 700, 200)
    info = await ledger.accounts.get(wallet(user))
    assert (info.balance, info.reserved) == (300, 300)
    await ledger.wallets.settle("r2", 300)
    info = await ledger.accounts.get(wallet(user))
    assert (info.balance, info.reserved) == (0, 0)
    assert await entry_sum(ledger, wallet(user)) == 0
    assert (await ledger.check()).healthy


async def test_key_budget_is_held_and_spent(ledger: Ledger) -> None:
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=10_000)
    created = await ledger.keys.create(user.id, "ci", budget=1_000)
    await ledger.governance.reserve(user.id, "r1", 700, key_id=created.info.id)
    with pytest.raises(InsufficientQuotaError):
        await ledger.governance.reserve(user.id, "r2", 400, key_id=created.info.id)
    assert (await ledger.accounts.get(wallet(user))).reserved == 700  # the refused hold was rolled back
    await ledger.wallets.settle("r1", 600)
    await ledger.governance.reserve(user.id, "r3", 400, key_id=created.info.id)
    assert (await ledger.keys.get(created.info.id)).spent == 600
    await ledger.wallets.release("r3")
    assert (await ledger.check()).healthy


async def test_direct_charge_is_idempotent(ledger: Ledger) -> None:
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=1_000)
    first = await ledger.wallets.charge(wallet(user), "cached-1", 50, user_id=user.id, model="gpt-4o")
    again = await ledger.wallets.charge(wallet(user), "cached-1", 50, user_id=user.id, model="gpt-4o")
    assert not first.replayed and again.replayed and again.transaction_id == first.transaction_id
    assert (await ledger.accounts.get(wallet(user))).balance == 950
    with pytest.raises(InsufficientQuotaError):
        await ledger.wallets.charge(wallet(user), "cached-2", 5_000)
    assert (await ledger.check()).healthy


async def test_amounts_must_be_integers(ledger: Ledger) -> None:
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=1_000)
    for bad in (-1, 1.5, True):
        with pytest.raises(InvalidRequestError):
            await ledger.governance.reserve(user.id, "r", bad)  # type: ignore[arg-type]
    await ledger.governance.reserve(user.id, "r", 10)
    with pytest.raises(InvalidRequestError):
        await ledger.wallets.settle("r", -5)


async def test_two_reconcilers_expire_each_reservation_once(
    backend: Backend, ledger: Ledger, clock: Clock
) -> None:
    users = [
        await ledger.directory.create_user(f"u{i}@x.io", f"U{i}", personal_quota=1_000) for i in range(4)
    ]
    for i in range(40):
        await ledger.governance.reserve(users[i % 4].id, f"r{i}", 10)
    clock.advance(minutes=5)
    other = backend.ledger()
    try:
        batches = await asyncio.gather(
            *(
                gw.wallets.reconcile_expired(limit=7)
                for gw in (ledger, other, ledger, other, ledger, other, ledger)
            )
        )
    finally:
        await other.close()
    expired = [h.request_id for batch in batches for h in batch]
    assert sorted(expired) == sorted(f"r{i}" for i in range(40))  # each one exactly once
    for user in users:
        assert (await ledger.accounts.get(wallet(user))).reserved == 0
    assert (await ledger.check()).healthy
