"""Credit leases on SQLite and PostgreSQL: two processes' leases and holds never admit more than the
wallet affords, a charge beyond what the wallet has is capped at its hard limit, and many requests at
once in one process share one lease without losing a micro-credit."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from alfred.errors import InsufficientQuotaError
from alfred.ledger import Ledger, LedgerSettings
from alfred.ledger.settings import LeaseSettings

from .conftest import KEY_SECRET, Backend
from .seed import entry_sum, wallet

N = 20
COST = 7_000_000  # 7 credits per request
CREDIT = 2 * COST  # the wallet may go this far below zero


def leased(backend: Backend, block_credits: int = 21) -> Ledger:
    settings = LedgerSettings(
        database_url=backend.url,
        reservation_ttl_s=60,
        leases=LeaseSettings(enabled=True, block_credits=Decimal(block_credits), ttl_s=30),
    )
    return Ledger.build(settings, key_secret=KEY_SECRET, db=backend.database(), clock=backend.clock)


async def test_two_processes_with_leases_admit_exactly_n(backend: Backend, ledger: Ledger) -> None:
    user = await ledger.directory.create_user(
        "hot@x.io", "Hot", personal_quota=(N - 2) * COST, hard_limit=-CREDIT
    )
    gateways = [leased(backend), leased(backend)]  # blocks of 3 requests each
    try:

        async def one(i: int) -> bool:
            gw = gateways[i % 2]
            try:
                await gw.governance.reserve(user.id, f"req-{i}", COST, fresh_id=True)
            except InsufficientQuotaError:
                return False
            await gw.wallets.settle(f"req-{i}", COST, prompt_tokens=10, completion_tokens=20)
            return True

        outcomes = await asyncio.gather(*(one(i) for i in range(5 * N)))
        assert all(gw.wallets.leases is not None for gw in gateways)
        assert any(gw.wallets.leases and gw.wallets.leases.leases for gw in gateways)  # leases were used
        report = await ledger.check()
        assert report.healthy, report.summary()  # with the leases still open
    finally:
        for gw in gateways:
            await gw.close()  # returns the leases

    assert sum(outcomes) == N
    info = await ledger.accounts.get(wallet(user))
    assert (info.balance, info.reserved) == (-CREDIT, 0)
    assert await entry_sum(ledger, wallet(user)) == info.balance
    report = await ledger.check()
    assert report.healthy, report.summary()
    refusals = await ledger.audit.recent(event_type="budget.refused", limit=1000)
    assert len(refusals) == 4 * N


async def test_a_leased_charge_beyond_the_wallet_is_capped_at_its_hard_limit(
    backend: Backend, ledger: Ledger
) -> None:
    user = await ledger.directory.create_user("cap@x.io", "Cap", personal_quota=30 * COST)
    gw = leased(backend)
    other = leased(backend)
    try:
        await gw.governance.reserve(user.id, "big", COST, fresh_id=True)  # lease of 3 COST
        await other.governance.reserve(user.id, "rest", 27 * COST, fresh_id=True)  # everything else, leased
        charge = await gw.wallets.settle("big", 10 * COST)  # 3 COST is all this lease and wallet have
        assert (charge.cost, charge.charged, charge.shortfall) == (10 * COST, 3 * COST, 7 * COST)
        await other.wallets.settle("rest", 27 * COST)
    finally:
        await gw.close()
        await other.close()
    info = await ledger.accounts.get(wallet(user))
    assert (info.balance, info.reserved) == (0, 0)
    report = await ledger.check()
    assert report.healthy, report.summary()


async def test_many_requests_at_once_share_one_growing_lease(backend: Backend, ledger: Ledger) -> None:
    user = await ledger.directory.create_user("busy@x.io", "Busy", personal_quota=1000 * COST)
    gw = leased(backend)
    try:

        async def one(i: int) -> None:
            await gw.governance.reserve(user.id, f"r{i}", COST, fresh_id=True)
            if i % 3:
                await gw.wallets.settle(f"r{i}", COST // 2)
            else:
                await gw.wallets.release(f"r{i}")

        await asyncio.gather(*(one(i) for i in range(60)))
        book = gw.wallets.leases
        assert book is not None and not book.holds
        [lease] = book.leases.values()
        assert lease.amount == lease.free and lease.held == lease.settling == 0
        info = await ledger.accounts.get(wallet(user))
        assert info.reserved == lease.amount
        assert info.balance == 1000 * COST - 40 * (COST // 2)
        report = await ledger.check()
        assert report.healthy, report.summary()
    finally:
        await gw.close()
    assert (await ledger.accounts.get(wallet(user))).reserved == 0
