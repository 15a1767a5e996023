"""Small builders shared by the ledger tests."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from alfred.ledger import Ledger, TeamInfo, UserInfo
from alfred.ledger.tables import LedgerEntry, LedgerTransaction


@dataclass
class Squad:
    """A team with a pool, an admin and two members."""

    team: TeamInfo
    admin: UserInfo
    alice: UserInfo
    bob: UserInfo


async def squad(
    ledger: Ledger, *, pool: int = 10_000, quota: int = 1_000, allow_pool: bool = False, share_pct: int = 10
) -> Squad:
    team = await ledger.directory.create_team(
        "core", common_pool=pool, allow_pool=allow_pool, vacation_share_pct=share_pct
    )
    admin = await ledger.directory.create_user(
        "admin@core.io", "Admin", team_id=team.id, team_role="admin", personal_quota=quota
    )
    alice = await ledger.directory.create_user(
        "alice@core.io", "Alice", team_id=team.id, personal_quota=quota
    )
    bob = await ledger.directory.create_user("bob@core.io", "Bob", team_id=team.id, personal_quota=quota)
    return Squad(team, admin, alice, bob)


def wallet(user: UserInfo | TeamInfo) -> int:
    assert user.wallet_id is not None
    return user.wallet_id


async def entry_sum(ledger: Ledger, wallet_id: int) -> int:
    async with ledger.db.session() as session:
        total = (
            await session.execute(
                select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
                    LedgerEntry.wallet_id == wallet_id
                )
            )
        ).scalar_one()
    return int(total)


async def count_transactions(ledger: Ledger, **where: object) -> int:
    query = select(func.count()).select_from(LedgerTransaction)
    for column, value in where.items():
        query = query.where(getattr(LedgerTransaction, column) == value)
    async with ledger.db.session() as session:
        return int((await session.execute(query)).scalar_one())
