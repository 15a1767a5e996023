"""Users and teams: each is created with its wallet and its initial grant of credits, and audited."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, insert, select
from sqlalchemy.exc import IntegrityError

from alfred.errors import InvalidRequestError, NotFoundError
from alfred.ledger.accounts import open_wallet
from alfred.ledger.audit import AuditEvent, AuditLog
from alfred.ledger.entries import Details, move
from alfred.ledger.tables import Team, User, Wallet, utc_now
from alfred.state.db import Database

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class TeamInfo:
    """A team and its pool wallet."""

    id: int
    name: str
    common_pool: int
    used_pool: int
    vacation_share_pct: int
    allow_pool: bool
    wallet_id: int | None


@dataclass(frozen=True, slots=True)
class UserInfo:
    """A user and their personal wallet."""

    id: int
    email: str
    name: str
    is_admin: bool
    status: str
    personal_quota: int
    used_tokens: int
    team_id: int | None
    team_role: str
    priority: bool
    wallet_id: int | None


def _non_negative(value: int, param: str) -> None:
    if value < 0:
        raise InvalidRequestError(f"{param} cannot be negative", param=param)


class Directory:
    """Creates and reads users and teams."""

    def __init__(
        self, db: Database, audit: AuditLog, *, clock: Clock = utc_now, default_vacation_share_pct: int = 10
    ) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock
        self._share_pct = default_vacation_share_pct

    async def create_team(
        self,
        name: str,
        *,
        common_pool: int = 0,
        vacation_share_pct: int | None = None,
        allow_pool: bool = False,
        hard_limit: int = 0,
        soft_limit: int | None = None,
        actor_id: int | None = None,
        ip_address: str | None = None,
    ) -> TeamInfo:
        """A team, its pool wallet, and ``common_pool`` micro-credits granted to that wallet."""
        _non_negative(common_pool, "common_pool")
        pct = self._share_pct if vacation_share_pct is None else vacation_share_pct
        if not 0 <= pct <= 100:
            raise InvalidRequestError(
                "vacation_share_pct must be between 0 and 100", param="vacation_share_pct"
            )
        try:
            async with self._db.transaction() as session:
                team_id = (
                    await session.execute(
                        insert(Team)
                        .values(name=name, common_pool=common_pool, used_pool=0, vacation_share_pct=pct,
                                allow_pool=allow_pool, created_at=self._clock())
                        .returning(Team.id)
                    )
                ).scalar_one()  # fmt: skip
                wallet_id = await open_wallet(
                    session, "team", team_id, hard_limit=hard_limit, soft_limit=soft_limit
                )
                if common_pool:
                    await move(
                        session, type="topup", amount=common_pool, source="external", target=wallet_id,
                        details=Details(user_id=actor_id, memo=f"team {name} pool grant"), now=self._clock(),
                    )  # fmt: skip
                details = {
                    "team_id": team_id,
                    "name": name,
                    "common_pool": common_pool,
                    "wallet_id": wallet_id,
                }
                await self._audit.append(
                    session, AuditEvent("team.created", f"created team {name}", actor_id, details, ip_address)
                )
        except IntegrityError as exc:
            raise InvalidRequestError(f"a team named {name!r} already exists", code="already_exists") from exc
        return await self.get_team(team_id)

    async def create_user(
        self,
        email: str,
        name: str,
        *,
        team_id: int | None = None,
        team_role: str = "member",
        is_admin: bool = False,
        personal_quota: int = 0,
        priority: bool = False,
        hard_limit: int = 0,
        soft_limit: int | None = None,
        actor_id: int | None = None,
        ip_address: str | None = None,
    ) -> UserInfo:
        """A user, their personal wallet, and ``personal_quota`` micro-credits granted to it."""
        _non_negative(personal_quota, "personal_quota")
        if team_role not in ("member", "admin"):
            raise InvalidRequestError("team_role must be member or admin", param="team_role")
        address = email.strip().lower()
        if "@" not in address:
            raise InvalidRequestError(f"not an email address: {email!r}", param="email")
        try:
            async with self._db.transaction() as session:
                if team_id is not None and await session.get(Team, team_id) is None:
                    raise NotFoundError(f"team {team_id} does not exist", param="team_id")
                user_id = (
                    await session.execute(
                        insert(User)
                        .values(email=address, name=name, is_admin=is_admin, status="active",
                                personal_quota=personal_quota, used_tokens=0, team_id=team_id, team_role=team_role,
                                priority=priority, created_at=self._clock())
                        .returning(User.id)
                    )
                ).scalar_one()  # fmt: skip
                wallet_id = await open_wallet(
                    session, "user", user_id, hard_limit=hard_limit, soft_limit=soft_limit
                )
                if personal_quota:
                    await move(
                        session, type="topup", amount=personal_quota, source="external", target=wallet_id,
                        details=Details(user_id=actor_id, memo=f"personal quota of {address}"), now=self._clock(),
                    )  # fmt: skip
                details = {
                    "user_id": user_id,
                    "email": address,
                    "team_id": team_id,
                    "personal_quota": personal_quota,
                }
                await self._audit.append(
                    session,
                    AuditEvent("user.created", f"created user {address}", actor_id, details, ip_address),
                )
        except IntegrityError as exc:
            raise InvalidRequestError(
                f"a user with email {address!r} already exists", code="already_exists"
            ) from exc
        return await self.get_user(user_id)

    def _users(self) -> Select[User, int]:
        return select(User, Wallet.id).outerjoin(
            Wallet, (Wallet.owner_type == "user") & (Wallet.owner_id == User.id)
        )

    def _teams(self) -> Select[Team, int]:
        return select(Team, Wallet.id).outerjoin(
            Wallet, (Wallet.owner_type == "team") & (Wallet.owner_id == Team.id)
        )

    async def get_user(self, user_id: int) -> UserInfo:
        async with self._db.session() as session:
            found = (await session.execute(self._users().where(User.id == user_id))).one_or_none()
        if found is None:
            raise NotFoundError(f"user {user_id} does not exist", param="user_id")
        return _user(*found)

    async def find_user(self, email: str) -> UserInfo | None:
        async with self._db.session() as session:
            found = (
                await session.execute(self._users().where(User.email == email.strip().lower()))
            ).one_or_none()
        return _user(*found) if found is not None else None

    async def list_users(self, *, team_id: int | None = None) -> list[UserInfo]:
        query = self._users().order_by(User.id)
        if team_id is not None:
            query = query.where(User.team_id == team_id)
        async with self._db.replica() as session:
            return [_user(u, w) for u, w in await session.execute(query)]

    async def get_team(self, team_id: int) -> TeamInfo:
        async with self._db.session() as session:
            found = (await session.execute(self._teams().where(Team.id == team_id))).one_or_none()
        if found is None:
            raise NotFoundError(f"team {team_id} does not exist", param="team_id")
        return _team(*found)

    async def list_teams(self) -> list[TeamInfo]:
        async with self._db.replica() as session:
            return [_team(t, w) for t, w in await session.execute(self._teams().order_by(Team.id))]


def _user(row: User, wallet_id: int | None) -> UserInfo:
    return UserInfo(
        row.id, row.email, row.name, row.is_admin, row.status, row.personal_quota, row.used_tokens, row.team_id,
        row.team_role, row.priority, wallet_id,
    )  # fmt: skip


def _team(row: Team, wallet_id: int | None) -> TeamInfo:
    return TeamInfo(
        row.id, row.name, row.common_pool, row.used_pool, row.vacation_share_pct, row.allow_pool, wallet_id
    )
