"""The ledger's numbers for Prometheus gauges: open reservations, what they hold, team budgets used.

Read on the replica (a gauge tolerates replication lag and should not load the primary), with a few
aggregate queries that the indexes on ``reservations.state`` and ``ledger_entries.wallet_id`` serve,
so the governance reconcile loop can refresh them every round.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select

from alfred.ledger.tables import LedgerEntry, Reservation, Wallet
from alfred.state.db import Database


@dataclass(frozen=True, slots=True)
class LedgerGauges:
    """``held`` is in micro-credits; ``budgets`` maps a team id to the share of its pool used (0..1+)."""

    open_reservations: int
    held: int
    budgets: dict[int, float] = field(default_factory=dict)


def budget_used(credited: int, balance: int, reserved: int, hard_limit: int) -> float | None:
    """Spent plus held over everything the wallet may ever spend; None for a wallet never funded.

    A wallet may spend down to ``hard_limit`` (its floor, negative when it runs on credit), so what it
    may ever spend is what was credited to it less that floor, and what is gone is what was credited
    less what is still spendable (``balance - reserved``). At 1 the next reservation is refused.
    """
    capacity = credited - hard_limit
    if capacity <= 0:
        return None
    return (credited - (balance - reserved)) / capacity


async def read_gauges(db: Database) -> LedgerGauges:
    """One snapshot of the gauges (three aggregate queries on the replica)."""
    async with db.replica() as session:
        count, held = (
            await session.execute(
                select(func.count(), func.coalesce(func.sum(Reservation.amount), 0)).where(
                    Reservation.state == "open"
                )
            )
        ).one()
        credited = (
            select(LedgerEntry.wallet_id, func.sum(LedgerEntry.amount).label("total"))
            .where(LedgerEntry.amount > 0)
            .group_by(LedgerEntry.wallet_id)
            .subquery()
        )
        rows = (
            await session.execute(
                select(Wallet.owner_id, Wallet.balance, Wallet.reserved, Wallet.hard_limit, credited.c.total)
                .join(credited, credited.c.wallet_id == Wallet.id)
                .where(Wallet.owner_type == "team")
            )
        ).all()
    budgets = {}
    for team_id, balance, reserved, hard_limit, total in rows:
        ratio = budget_used(int(total or 0), balance, reserved, hard_limit)
        if ratio is not None:
            budgets[team_id] = ratio
    return LedgerGauges(int(count), int(held), budgets)
