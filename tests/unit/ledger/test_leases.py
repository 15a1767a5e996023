"""Credit leases over a real SQLite ledger: requests reserve from a leased block in memory, settle in one
transaction, release in memory; the books check with drift 0 at every step, refusals at the hard limit
stay exact, and a lease whose process died expires and is reconciled."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from alfred.errors import InsufficientQuotaError
from alfred.ledger import Ledger, LedgerSettings
from alfred.ledger.leases import LeaseBook
from alfred.ledger.settings import LeaseSettings
from alfred.ledger.tables import Reservation

SECRET = "lease-tests-key-hash-secret-16+"  # pragma: allowlist secret
BLOCK = 10_000  # micro-credits: block_credits 0.01
COST = 1_000


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
def clock() -> Clock:
    return Clock()


def build(url: str, clock: Clock, *, enabled: bool = True) -> Ledger:
    leases = LeaseSettings(enabled=enabled, block_credits=Decimal("0.01"), ttl_s=30)
    return Ledger.build(LedgerSettings(database_url=url, leases=leases), key_secret=SECRET, clock=clock)


@pytest.fixture
async def ledger(url: str, clock: Clock) -> AsyncIterator[Ledger]:
    from alfred.state.db import migrate

    await migrate(url)
    built = build(url, clock)
    yield built
    await built.close()


def book(ledger: Ledger) -> LeaseBook:
    assert ledger.wallets.leases is not None
    return ledger.wallets.leases


async def rows(ledger: Ledger) -> dict[str, tuple[str, int]]:
    async with ledger.db.session() as session:
        found = await session.execute(select(Reservation.request_id, Reservation.state, Reservation.amount))
        return {rid: (state, amount) for rid, state, amount in found.all()}


async def healthy(ledger: Ledger) -> None:
    report = await ledger.check()
    assert report.healthy, report.summary()


async def wallet(ledger: Ledger, wallet_id: int) -> tuple[int, int]:
    info = await ledger.accounts.get(wallet_id)
    return info.balance, info.reserved


async def test_a_request_reserves_from_a_leased_block_and_settles_in_one_transaction(ledger: Ledger) -> None:
    user = await ledger.directory.create_user("a@l.io", "A", personal_quota=100_000)
    assert user.wallet_id is not None
    hold = await ledger.governance.reserve(user.id, "r1", 2 * COST, fresh_id=True)
    assert (hold.state, hold.source, hold.amount, hold.replayed) == ("open", "personal", 2 * COST, False)
    [(lease_id, (state, amount))] = (await rows(ledger)).items()  # only the lease has a row
    assert lease_id.startswith("lease:") and (state, amount) == ("open", BLOCK)
    assert await wallet(ledger, user.wallet_id) == (100_000, BLOCK)
    await healthy(ledger)

    charge = await ledger.wallets.settle("r1", COST, prompt_tokens=3, completion_tokens=1)
    assert (charge.cost, charge.charged, charge.replayed) == (COST, COST, False)
    assert await wallet(ledger, user.wallet_id) == (100_000 - COST, BLOCK - COST)
    found = await rows(ledger)
    # The request's only row is its charge (a gateway-made id): no reservation row is written for it.
    assert "r1" not in found and found[lease_id] == ("open", BLOCK - COST)
    lease = book(ledger).leases[user.id]
    assert (lease.free, lease.held, lease.amount) == (BLOCK - COST, 0, BLOCK - COST)
    await healthy(ledger)

    again = await ledger.wallets.settle("r1", COST)  # settling twice replays the first charge
    assert again.replayed and again.charged == COST
    assert await wallet(ledger, user.wallet_id) == (100_000 - COST, BLOCK - COST)


async def test_release_is_memory_only_and_a_retry_is_replayed(ledger: Ledger) -> None:
    """(The gateway never reuses an id it made; a client's retry takes the per-request path.)"""
    user = await ledger.directory.create_user("b@l.io", "B", personal_quota=100_000)
    assert user.wallet_id is not None
    await ledger.governance.reserve(user.id, "r1", 3 * COST, fresh_id=True)
    replay = await ledger.governance.reserve(user.id, "r1", 3 * COST, fresh_id=True)
    assert replay.replayed and replay.state == "open"
    released = await ledger.wallets.release("r1")
    assert released is not None and released.state == "released"
    assert book(ledger).leases[user.id].free == BLOCK
    assert await wallet(ledger, user.wallet_id) == (100_000, BLOCK)
    assert "r1" not in await rows(ledger)
    # After a settle the request id is known to the database: a client's retry of it is a replay.
    await ledger.governance.reserve(user.id, "r2", COST, fresh_id=True)
    await ledger.wallets.settle("r2", COST)
    settled = await ledger.governance.reserve(user.id, "r2", COST)  # a client's retry
    assert settled.replayed and settled.state == "settled"
    await healthy(ledger)


async def test_another_process_sees_a_request_settled_through_a_lease(
    ledger: Ledger, url: str, clock: Clock
) -> None:
    user = await ledger.directory.create_user("c@l.io", "C", personal_quota=100_000)
    await ledger.governance.reserve(user.id, "r1", COST, fresh_id=True)
    await ledger.wallets.settle("r1", COST)
    other = build(url, clock)
    try:
        replay = await other.governance.reserve(user.id, "r1", COST)  # a client's retry
        assert replay.replayed and replay.state == "settled"
        # Two processes' leases and holds never exceed what the wallet can spend.
        await other.governance.reserve(user.id, "r2", COST, fresh_id=True)
        _, reserved = await wallet(ledger, user.wallet_id or 0)
        assert reserved == 2 * BLOCK - COST
        await healthy(ledger)
    finally:
        await other.close()
    assert await wallet(ledger, user.wallet_id or 0) == (100_000 - COST, BLOCK - COST)


async def test_refusals_at_the_hard_limit_stay_exact(ledger: Ledger) -> None:
    # The wallet affords 3 requests, less than a block: every hold takes the per-request path.
    user = await ledger.directory.create_user("d@l.io", "D", personal_quota=3 * COST)
    for i in range(3):
        hold = await ledger.governance.reserve(user.id, f"r{i}", COST, fresh_id=True)
        assert not hold.request_id.startswith("lease:")
    with pytest.raises(InsufficientQuotaError):
        await ledger.governance.reserve(user.id, "r3", COST, fresh_id=True)
    assert set(await rows(ledger)) == {"r0", "r1", "r2"}  # no lease was taken
    await healthy(ledger)


async def test_a_short_lease_grows_and_then_gives_its_rest_back_for_exact_holds(ledger: Ledger) -> None:
    user = await ledger.directory.create_user("e@l.io", "E", personal_quota=2 * BLOCK + 5 * COST)
    assert user.wallet_id is not None
    for i in range(19):  # the first block, then the lease grows by a second one
        await ledger.governance.reserve(user.id, f"r{i}", COST, fresh_id=True)
    lease = book(ledger).leases[user.id]
    assert (lease.amount, lease.held, lease.free) == (2 * BLOCK, 19 * COST, COST)
    # 2 COST do not fit in what is free, and the wallet cannot give a third block: the lease gives its
    # free COST back and this request, like the ones after it, takes an exact per-request hold.
    await ledger.governance.reserve(user.id, "big", 2 * COST, fresh_id=True)
    assert (lease.amount, lease.free) == (2 * BLOCK - COST, 0)
    found = await rows(ledger)
    assert found["big"] == ("open", 2 * COST) and found[lease.request_id] == ("open", 2 * BLOCK - COST)
    await healthy(ledger)
    for i in range(19, 23):
        await ledger.governance.reserve(user.id, f"r{i}", COST, fresh_id=True)
    with pytest.raises(InsufficientQuotaError):
        await ledger.governance.reserve(
            user.id, "r23", COST, fresh_id=True
        )  # exactly what the wallet affords
    assert await wallet(ledger, user.wallet_id) == (2 * BLOCK + 5 * COST, 2 * BLOCK + 5 * COST)
    for i in range(23):
        await ledger.wallets.settle(f"r{i}", COST)
    await ledger.wallets.settle("big", 2 * COST)
    assert await wallet(ledger, user.wallet_id) == (0, 0)
    await healthy(ledger)


async def test_a_charge_above_the_hold_draws_on_the_lease(ledger: Ledger) -> None:
    user = await ledger.directory.create_user("f@l.io", "F", personal_quota=100_000)
    assert user.wallet_id is not None
    await ledger.governance.reserve(user.id, "r1", COST, fresh_id=True)
    charge = await ledger.wallets.settle("r1", 3 * COST)
    assert charge.charged == 3 * COST
    assert await wallet(ledger, user.wallet_id) == (100_000 - 3 * COST, BLOCK - 3 * COST)
    assert book(ledger).leases[user.id].free == BLOCK - 3 * COST
    await healthy(ledger)


async def test_a_key_with_its_own_budget_takes_the_per_request_path(ledger: Ledger) -> None:
    user = await ledger.directory.create_user("g@l.io", "G", personal_quota=100_000)
    budgeted = await ledger.keys.create(user.id, "budgeted", budget=5 * COST)
    plain = await ledger.keys.create(user.id, "plain")
    await ledger.governance.reserve(user.id, "r1", COST, key_id=budgeted.info.id, fresh_id=True)
    await ledger.governance.reserve(user.id, "r2", COST, key_id=plain.info.id, fresh_id=True)
    found = await rows(ledger)
    assert found["r1"] == ("open", COST) and "r2" not in found
    await ledger.wallets.settle("r1", COST)
    await ledger.wallets.settle("r2", COST)
    assert (await ledger.keys.get(plain.info.id)).spent == COST
    assert (await ledger.keys.get(budgeted.info.id)).spent == COST
    await healthy(ledger)


async def test_a_wallet_near_its_soft_limit_takes_the_per_request_path(ledger: Ledger) -> None:
    user = await ledger.directory.create_user("h@l.io", "H", personal_quota=BLOCK + COST, soft_limit=5 * COST)
    hold = await ledger.governance.reserve(user.id, "r1", COST, fresh_id=True)
    assert "r1" in await rows(ledger) and not book(ledger).leases
    assert not hold.soft_limit_warning
    await healthy(ledger)


async def test_an_idle_lease_is_returned_and_a_busy_one_renewed(ledger: Ledger, clock: Clock) -> None:
    user = await ledger.directory.create_user("i@l.io", "I", personal_quota=100_000)
    assert user.wallet_id is not None
    leases = book(ledger)
    tick = Monotonic()
    leases.monotonic = tick
    await ledger.governance.reserve(user.id, "busy", COST, fresh_id=True)
    lease = leases.leases[user.id]
    clock.now += timedelta(seconds=20)
    tick.now += 20
    await leases.tend()  # a hold is out: renewed
    assert lease.expires_at == clock.now + timedelta(seconds=30) and not lease.ended
    await ledger.wallets.release("busy")
    tick.now += 11
    await leases.tend()  # idle for longer than ttl / 3: returned
    assert lease.ended and not leases.leases
    assert await wallet(ledger, user.wallet_id) == (100_000, 0)
    assert set(state for state, _ in (await rows(ledger)).values()) == {"released"}
    await healthy(ledger)


async def test_a_dead_process_lease_expires_and_is_reconciled(ledger: Ledger, url: str, clock: Clock) -> None:
    user = await ledger.directory.create_user("j@l.io", "J", personal_quota=100_000)
    assert user.wallet_id is not None
    victim = build(url, clock)
    await victim.governance.reserve(user.id, "lost", 2 * COST, fresh_id=True)
    await victim.governance.reserve(user.id, "done", COST, fresh_id=True)
    await victim.wallets.settle("done", COST)
    await victim.db.dispose()  # killed: no settle, no release, no lease returned
    assert await wallet(ledger, user.wallet_id) == (100_000 - COST, BLOCK - COST)
    clock.now += timedelta(seconds=31)
    report = await ledger.check()
    [stale] = report.problems
    assert stale.kind == "stale_reservation" and stale.subject.startswith("lease lease:")
    expired = await ledger.wallets.reconcile_expired()
    assert [h.amount for h in expired] == [BLOCK - COST]
    assert await wallet(ledger, user.wallet_id) == (100_000 - COST, 0)
    await healthy(ledger)


async def test_a_hold_whose_lease_expired_still_settles_from_the_balance(
    ledger: Ledger, clock: Clock
) -> None:
    user = await ledger.directory.create_user("k@l.io", "K", personal_quota=100_000)
    assert user.wallet_id is not None
    await ledger.governance.reserve(user.id, "slow", COST, fresh_id=True)
    clock.now += timedelta(seconds=31)
    await ledger.wallets.reconcile_expired()  # the keeper never ran: the lease expired
    charge = await ledger.wallets.settle("slow", COST)
    assert charge.charged == COST
    assert await wallet(ledger, user.wallet_id) == (100_000 - COST, 0)
    assert not book(ledger).leases  # nothing more is taken from it
    await ledger.governance.reserve(user.id, "next", COST, fresh_id=True)  # a new lease
    assert len(book(ledger).leases) == 1
    await healthy(ledger)


async def test_leases_off_is_the_per_request_path(url: str, clock: Clock) -> None:
    from alfred.state.db import migrate

    await migrate(url)
    off = build(url, clock, enabled=False)
    try:
        assert off.wallets.leases is None
        user = await off.directory.create_user("l@l.io", "L", personal_quota=100_000)
        await off.governance.reserve(user.id, "r1", COST, fresh_id=True)
        assert set(await rows(off)) == {"r1"}
    finally:
        await off.close()


async def test_close_returns_every_lease(ledger: Ledger, url: str, clock: Clock) -> None:
    user = await ledger.directory.create_user("m@l.io", "M", personal_quota=100_000)
    other = build(url, clock)
    await other.governance.reserve(user.id, "r1", COST, fresh_id=True)
    await other.wallets.release("r1")
    await other.close()
    assert await wallet(ledger, user.wallet_id or 0) == (100_000, 0)
    await healthy(ledger)


async def test_only_request_ids_made_for_the_request_hold_on_a_lease(ledger: Ledger) -> None:
    user = await ledger.directory.create_user("n@l.io", "N", personal_quota=100_000)
    await ledger.governance.reserve(user.id, "made-here", COST, fresh_id=True)
    # A client's id may reach another process at the same moment: the per-request hold's unique
    # index is what refuses the second, so such a request takes it.
    await ledger.governance.reserve(user.id, "client-sent", COST)
    assert set(book(ledger).holds) == {"made-here"}
    assert (await rows(ledger))["client-sent"] == ("open", COST)
    await healthy(ledger)


async def test_a_lease_on_a_wallet_frozen_since_is_returned_at_its_next_renewal(
    ledger: Ledger, clock: Clock
) -> None:
    user = await ledger.directory.create_user("f@l.io", "F", personal_quota=100_000)
    assert user.wallet_id is not None
    leases = book(ledger)
    tick = Monotonic()
    leases.monotonic = tick
    await ledger.governance.reserve(user.id, "in-flight", COST, fresh_id=True)
    lease = leases.leases[user.id]
    await ledger.accounts.set_limits(user.wallet_id, status="frozen")
    clock.now += timedelta(seconds=10)
    tick.now += 10
    await leases.tend()  # busy, but its wallet may not lend any more: returned, not renewed
    assert lease.ended and not leases.leases
    assert await wallet(ledger, user.wallet_id) == (100_000, 0)
    await ledger.wallets.settle("in-flight", COST)  # the hold already out still settles, from the balance
    assert await wallet(ledger, user.wallet_id) == (100_000 - COST, 0)
    await healthy(ledger)
