"""``check()`` says "drift 0" on a healthy ledger and names every discrepancy otherwise."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import delete, select, update

from alfred.ledger import Ledger
from alfred.ledger.tables import LedgerEntry, Wallet

from .conftest import Backend
from .seed import squad, wallet


async def _busy_ledger(ledger: Ledger) -> None:
    s = await squad(ledger, pool=50_000, quota=5_000, allow_pool=True)
    await ledger.governance.reserve(s.alice.id, "a1", 4_000)
    await ledger.governance.reserve(s.alice.id, "a2", 4_000)  # personal cannot cover: the pool does
    await ledger.wallets.settle("a1", 3_500)
    await ledger.wallets.settle("a2", 1_000)
    await ledger.governance.reserve(s.bob.id, "b1", 200)
    await ledger.approvals.transfer(s.bob.id, s.alice.id, 100)
    await ledger.accounts.topup(wallet(s.bob), 1_000, actor_id=s.admin.id)


async def test_healthy_ledger_has_drift_zero(ledger: Ledger) -> None:
    await _busy_ledger(ledger)
    report = await ledger.check()
    assert report.healthy and report.drift == 0
    assert report.summary().startswith("drift 0")
    assert report.open_reservations == 1 and report.wallets == 4 and report.transactions == 8


async def test_balance_edited_behind_the_ledger_is_named(ledger: Ledger) -> None:
    await _busy_ledger(ledger)
    bob = await ledger.directory.find_user("bob@core.io")
    assert bob is not None
    async with ledger.db.transaction() as session:
        await session.execute(
            update(Wallet).where(Wallet.id == wallet(bob)).values(balance=Wallet.balance + 5)
        )
    report = await ledger.check()
    assert report.drift == 5
    [problem] = report.problems
    assert (problem.kind, problem.subject) == ("balance", f"wallet {wallet(bob)}")
    assert f"wallet {wallet(bob)}" in report.summary()


async def test_reserved_without_a_reservation_is_named(ledger: Ledger) -> None:
    await _busy_ledger(ledger)
    alice = await ledger.directory.find_user("alice@core.io")
    assert alice is not None
    async with ledger.db.transaction() as session:
        await session.execute(
            update(Wallet).where(Wallet.id == wallet(alice)).values(reserved=Wallet.reserved + 42)
        )
    report = await ledger.check()
    assert [(p.kind, p.subject, p.expected, p.actual) for p in report.problems] == [
        ("reserved", f"wallet {wallet(alice)}", 0, 42)
    ]
    assert report.drift == 42


async def test_a_deleted_entry_is_named(ledger: Ledger) -> None:
    await _busy_ledger(ledger)
    async with ledger.db.transaction() as session:
        entry = (
            await session.execute(select(LedgerEntry).where(LedgerEntry.system_account == "revenue").limit(1))
        ).scalar_one()
        await session.execute(delete(LedgerEntry).where(LedgerEntry.id == entry.id))
    report = await ledger.check()
    kinds = {p.kind for p in report.problems}
    assert kinds == {"unbalanced"}
    assert any(str(entry.transaction_id) in p.subject for p in report.problems)
    assert report.drift == entry.amount


async def test_a_row_naming_a_missing_parent_is_named_on_sqlite(backend: Backend, ledger: Ledger) -> None:
    """The request path's SQLite writer skips foreign-key checks (its scripts only write rows whose
    parents they just touched); the check is the net that would catch one that did not."""
    if backend.name != "sqlite":
        pytest.skip("PostgreSQL enforces foreign keys on every connection")
    await _busy_ledger(ledger)
    assert (await ledger.check()).healthy  # everything the hot path wrote names real rows
    orphan = sqlite3.connect(ledger.db.writer.url.database or "", isolation_level=None)
    try:
        orphan.execute("PRAGMA foreign_keys=OFF")
        orphan_id = orphan.execute(
            "INSERT INTO ledger_entries (transaction_id, wallet_id, system_account, amount, created_at) "
            "VALUES ('00000000000000000000000000000000', NULL, 'revenue', 0, '2030-01-01 00:00:00.000000')"
        ).lastrowid
    finally:
        orphan.close()
    report = await ledger.check()
    assert not report.healthy and report.drift == 0, report.problems
    orphans = [p for p in report.problems if p.kind == "orphan"]
    assert [p.subject for p in orphans] == [
        f"ledger_entries row {orphan_id} names a missing ledger_transactions row"
    ], report.problems
    assert "orphan: ledger_entries" in report.summary()
