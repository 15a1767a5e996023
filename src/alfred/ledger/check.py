"""The ledger's self-check (``alfred ledger check``): does every balance equal the sum of its entries,
does every transaction balance, is nothing reserved without an open reservation behind it, and (on
SQLite) does every foreign key name a row?

On a healthy ledger the answer is "drift 0". Otherwise each discrepancy is named: which wallet,
transaction or key, what its entries say, and what it holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from alfred.ledger.tables import ApiKey, LedgerEntry, LedgerTransaction, Reservation, Wallet, utc_now
from alfred.state.db import Database

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """One thing that does not add up: ``expected`` is what the entries or reservations say."""

    kind: str  # balance | reserved | key_reserved | unbalanced | entries_missing | stale_reservation | orphan
    subject: str
    expected: int
    actual: int

    @property
    def amount(self) -> int:
        return abs(self.actual - self.expected)

    def __str__(self) -> str:
        if self.kind == "orphan":
            return f"{self.kind}: {self.subject}"
        return f"{self.kind}: {self.subject}: expected {self.expected}, found {self.actual}"


@dataclass(frozen=True, slots=True)
class LedgerReport:
    """The outcome of a check: ``drift`` is the total of money discrepancies in micro-credits."""

    wallets: int
    transactions: int
    open_reservations: int
    problems: list[Discrepancy] = field(default_factory=list)

    @property
    def drift(self) -> int:
        return sum(p.amount for p in self.problems if p.kind not in ("stale_reservation", "orphan"))

    @property
    def healthy(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.healthy:
            return f"drift 0 ({self.wallets} wallets, {self.transactions} transactions, {self.open_reservations} open)"
        return f"drift {self.drift}: " + "; ".join(str(p) for p in self.problems)


async def check_ledger(db: Database, *, clock: Clock = utc_now) -> LedgerReport:
    """Compare every stored total with the rows it summarises, in one consistent snapshot."""
    async with db.session() as session:
        if db.dialect == "postgresql":
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        problems: list[Discrepancy] = []
        wallets = await _wallets(session, problems)
        transactions = await _transactions(session, problems)
        await _keys(session, problems)
        open_count = await _stale(session, problems, clock())
        if db.dialect == "sqlite":
            await _orphans(session, problems)
        return LedgerReport(wallets, transactions, open_count, problems)


async def _wallets(session: AsyncSession, problems: list[Discrepancy]) -> int:
    entries = (
        select(LedgerEntry.wallet_id, func.sum(LedgerEntry.amount).label("total"))
        .where(LedgerEntry.wallet_id.is_not(None))
        .group_by(LedgerEntry.wallet_id)
        .subquery()
    )
    held = (
        select(Reservation.wallet_id, func.sum(Reservation.amount).label("total"))
        .where(Reservation.state == "open")
        .group_by(Reservation.wallet_id)
        .subquery()
    )
    rows = (
        await session.execute(
            select(Wallet.id, Wallet.balance, Wallet.reserved, entries.c.total, held.c.total)
            .outerjoin(entries, entries.c.wallet_id == Wallet.id)
            .outerjoin(held, held.c.wallet_id == Wallet.id)
            .order_by(Wallet.id)
        )
    ).all()
    for wallet_id, balance, reserved, entry_total, held_total in rows:
        if balance != int(entry_total or 0):
            problems.append(Discrepancy("balance", f"wallet {wallet_id}", int(entry_total or 0), balance))
        if reserved != int(held_total or 0):
            problems.append(Discrepancy("reserved", f"wallet {wallet_id}", int(held_total or 0), reserved))
    return len(rows)


async def _transactions(session: AsyncSession, problems: list[Discrepancy]) -> int:
    positive = func.coalesce(func.sum(case((LedgerEntry.amount > 0, LedgerEntry.amount), else_=0)), 0)
    net = func.coalesce(func.sum(LedgerEntry.amount), 0)
    bad = (
        await session.execute(
            select(LedgerTransaction.id, LedgerTransaction.amount, positive, net)
            .outerjoin(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
            .group_by(LedgerTransaction.id, LedgerTransaction.amount)
            .having((net != 0) | (positive != LedgerTransaction.amount))
        )
    ).all()
    for tx_id, amount, pos, total in bad:
        if int(total) != 0:
            problems.append(Discrepancy("unbalanced", f"transaction {tx_id}", 0, int(total)))
        else:
            problems.append(Discrepancy("entries_missing", f"transaction {tx_id}", amount, int(pos)))
    orphans = (
        await session.execute(
            select(LedgerEntry.transaction_id, func.sum(LedgerEntry.amount))
            .outerjoin(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
            .where(LedgerTransaction.id.is_(None))
            .group_by(LedgerEntry.transaction_id)
        )
    ).all()
    for tx_id, total in orphans:
        problems.append(Discrepancy("unbalanced", f"entries of missing transaction {tx_id}", 0, int(total)))
    count = (await session.execute(select(func.count()).select_from(LedgerTransaction))).scalar_one()
    return int(count)


async def _keys(session: AsyncSession, problems: list[Discrepancy]) -> None:
    held = (
        select(Reservation.key_id, func.sum(Reservation.amount).label("total"))
        .where(Reservation.state == "open", Reservation.key_id.is_not(None))
        .group_by(Reservation.key_id)
        .subquery()
    )
    rows = (
        await session.execute(
            select(ApiKey.id, ApiKey.reserved, held.c.total)
            .outerjoin(held, held.c.key_id == ApiKey.id)
            .where(ApiKey.reserved != func.coalesce(held.c.total, 0))
        )
    ).all()
    for key_id, reserved, total in rows:
        problems.append(Discrepancy("key_reserved", f"key {key_id}", int(total or 0), reserved))


async def _stale(session: AsyncSession, problems: list[Discrepancy], now: datetime) -> int:
    """Open reservations past their expiry hold credits for no live request: reconciliation is due.
    A credit lease (``alfred.ledger.leases``) is an open reservation like any other: its process renews
    it while in use, so one past its expiry belonged to a process that died (or lost the database)."""
    stale = (
        await session.execute(
            select(Reservation.request_id, Reservation.source, Reservation.amount, Reservation.expires_at)
            .where(Reservation.state == "open", Reservation.expires_at <= now)
            .order_by(Reservation.id)
        )
    ).all()
    for request_id, source, amount, expires_at in stale:
        what = "lease" if source == "lease" else "request"
        problems.append(
            Discrepancy("stale_reservation", f"{what} {request_id} (expired {expires_at})", 0, amount)
        )
    count = (
        await session.execute(
            select(func.count()).select_from(Reservation).where(Reservation.state == "open")
        )
    ).scalar_one()
    return int(count)


async def _orphans(session: AsyncSession, problems: list[Discrepancy]) -> None:
    """SQLite: rows whose foreign key names no row. The request path's writer skips SQLite's
    foreign-key checks (``alfred.ledger.group_commit``); this is the net under that. PostgreSQL
    always enforces them."""
    rows = (await session.execute(text("PRAGMA foreign_key_check"))).all()
    for table, rowid, parent, _fk in rows:
        problems.append(Discrepancy("orphan", f"{table} row {rowid} names a missing {parent} row", 0, 0))
