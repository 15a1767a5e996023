"""Read-only queries the admin API needs beyond the ledger's own methods: transactions, usage sums,
keys and approvals across users, and which wallets and users belong to a team.

They read the replica (listings tolerate replication lag) and never write.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import Select, func, or_, select

from alfred.ledger import ApprovalInfo, AuditEntry, KeyInfo, Ledger
from alfred.ledger.audit import AuditLog
from alfred.ledger.tables import (
    ApiKey,
    ApprovalRequest,
    LedgerEntry,
    LedgerTransaction,
    User,
    Wallet,
)

GroupBy = Literal["user", "team", "model", "provider", "day"]
USAGE_TYPES = ("charge", "cache_hit")
# Audit ``details`` keys that name a user or a wallet: a row is about a team when one of them is its.
_USER_KEYS = ("user_id", "owner_id", "from_user", "to_user", "requester_id")
_WALLET_KEYS = ("wallet_id", "from_wallet", "to_wallet")


@dataclass(frozen=True, slots=True)
class UsageRow:
    """Charges summed over one value of the grouping."""

    key: str | None
    requests: int
    cache_hits: int
    prompt_tokens: int
    completion_tokens: int
    cost: int


@dataclass(frozen=True, slots=True)
class TeamMembers:
    """A team's users and wallets (the pool's and each member's)."""

    team_id: int
    users: frozenset[int]
    wallets: frozenset[int]


class Reports:
    """The admin API's read queries over the ledger's tables."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._db = ledger.db

    async def members(self, team_id: int) -> TeamMembers:
        async with self._db.replica() as session:
            users = (await session.execute(select(User.id).where(User.team_id == team_id))).scalars().all()
            wallets = (
                await session.execute(
                    select(Wallet.id).where(
                        or_(
                            (Wallet.owner_type == "team") & (Wallet.owner_id == team_id),
                            (Wallet.owner_type == "user") & Wallet.owner_id.in_(users or [-1]),
                        )
                    )
                )
            ).scalars()
            return TeamMembers(team_id, frozenset(users), frozenset(wallets))

    async def transactions(
        self,
        *,
        wallet_id: int | None = None,
        user_id: int | None = None,
        type: str | None = None,
        request_id: str | None = None,
        before: datetime | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Newest first; a wallet's are every transaction with an entry on it (either side)."""
        tx = LedgerTransaction
        query = select(tx).order_by(tx.created_at.desc(), tx.id).limit(limit)
        if wallet_id is not None:
            touching = select(LedgerEntry.transaction_id).where(LedgerEntry.wallet_id == wallet_id)
            query = query.where(tx.id.in_(touching))
        if user_id is not None:
            query = query.where(tx.user_id == user_id)
        if type is not None:
            query = query.where(tx.type == type)
        if request_id is not None:
            query = query.where(tx.request_id == request_id)
        if before is not None:
            query = query.where(tx.created_at < before)
        async with self._db.replica() as session:
            rows = (await session.execute(query)).scalars().all()
            return [
                {
                    "id": str(r.id),
                    "type": r.type,
                    "amount_micros": r.amount,
                    "wallet_id": r.wallet_id,
                    "user_id": r.user_id,
                    "key_id": r.key_id,
                    "request_id": r.request_id,
                    "model": r.model,
                    "provider": r.provider,
                    "prompt_tokens": r.prompt_tokens,
                    "completion_tokens": r.completion_tokens,
                    "memo": r.memo,
                    "created_at": r.created_at,
                }
                for r in rows
            ]

    async def usage(
        self,
        group_by: GroupBy,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        team_id: int | None = None,
        user_id: int | None = None,
    ) -> list[UsageRow]:
        """Charges and cache hits summed per group, biggest cost first."""
        tx = LedgerTransaction
        column: Any = {
            "user": tx.user_id,
            "team": User.team_id,
            "model": tx.model,
            "provider": tx.provider,
            "day": self._utc_day(tx.created_at),
        }[group_by]
        cost = func.coalesce(func.sum(tx.amount), 0)
        query: Select[Any] = (
            select(
                column,
                func.count(),
                func.count().filter(tx.type == "cache_hit"),
                func.coalesce(func.sum(tx.prompt_tokens), 0),
                func.coalesce(func.sum(tx.completion_tokens), 0),
                cost,
            )
            .where(tx.type.in_(USAGE_TYPES))
            .group_by(column)
            .order_by(cost.desc(), column)
        )
        if group_by == "team" or team_id is not None:
            query = query.outerjoin(User, User.id == tx.user_id)
        if team_id is not None:
            query = query.where(User.team_id == team_id)
        if user_id is not None:
            query = query.where(tx.user_id == user_id)
        if since is not None:
            query = query.where(tx.created_at >= since)
        if until is not None:
            query = query.where(tx.created_at < until)
        async with self._db.replica() as session:
            rows = (await session.execute(query)).all()
        return [
            UsageRow(_key(k), int(n), int(hits), int(p), int(c), int(total))
            for k, n, hits, p, c, total in rows
        ]

    def _utc_day(self, column: Any) -> Any:
        # SQLite stores the UTC text; PostgreSQL would cut days in the session's time zone.
        if self._db.dialect == "postgresql":
            return func.date(func.timezone("UTC", column))
        return func.date(column)

    async def keys(self, *, user_ids: Iterable[int] | None = None) -> list[KeyInfo]:
        """Every key, or the keys of the given users; by id, in one query."""
        query = select(ApiKey).order_by(ApiKey.id)
        if user_ids is not None:
            query = query.where(ApiKey.user_id.in_(list(user_ids) or [-1]))
        async with self._db.replica() as session:
            return [_key_info(row) for row in (await session.execute(query)).scalars()]

    async def pending_approvals(self) -> list[ApprovalInfo]:
        """Pending requests of every team (a team admin asks ``Approvals.pending`` for theirs)."""
        async with self._db.replica() as session:
            team_ids = (
                await session.execute(
                    select(ApprovalRequest.team_id)
                    .where(ApprovalRequest.state == "pending")
                    .distinct()
                    .order_by(ApprovalRequest.team_id)
                )
            ).scalars()
            teams = list(team_ids)
        found = [a for t in teams for a in await self._ledger.approvals.pending(t)]
        return sorted(found, key=lambda a: a.id)

    async def audit_about(
        self,
        team: TeamMembers,
        *,
        limit: int,
        before_seq: int | None,
        user_id: int | None,
        event_type: str | None,
        batch: int = 500,
        max_scanned: int = 20_000,
    ) -> list[AuditEntry]:
        """Newest first, the audit rows about a team: done by, or naming, one of its users or wallets.

        Whether a row is about a team is read from its JSON details, which the two databases query
        differently, so rows are filtered here, a page at a time, up to ``max_scanned`` rows back.
        """
        audit: AuditLog = self._ledger.audit
        found: list[AuditEntry] = []
        cursor = before_seq
        scanned = 0
        while len(found) < limit and scanned < max_scanned:
            page = await audit.recent(limit=batch, before_seq=cursor, user_id=user_id, event_type=event_type)
            if not page:
                break
            scanned += len(page)
            found.extend(e for e in page if is_about(e, team))
            cursor = page[-1].seq
        return found[:limit]


def is_about(entry: AuditEntry, team: TeamMembers) -> bool:
    details = entry.details
    if entry.user_id in team.users or details.get("team_id") == team.team_id:
        return True
    if any(_named(details.get(k), team.users) for k in _USER_KEYS):
        return True
    return any(_named(details.get(k), team.wallets) for k in _WALLET_KEYS)


def _named(value: object, ids: frozenset[int]) -> bool:
    return isinstance(value, int) and value in ids


def _key_info(row: ApiKey) -> KeyInfo:
    # The stored settings only: KeyInfo has no field for the hash, so it cannot leak from here.
    values: dict[str, Any] = {f.name: getattr(row, f.name) for f in fields(KeyInfo)}
    if row.allowed_models is not None:
        values["allowed_models"] = tuple(row.allowed_models)
    return KeyInfo(**values)


def _key(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
