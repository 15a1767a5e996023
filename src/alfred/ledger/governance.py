"""Which wallet pays for a request: the quota cascade, and vacation sharing.

The cascade, tried in this order inside one transaction (each step one conditional UPDATE, so a step
either takes the whole reservation or changes nothing):

1. the user's personal wallet, down to its hard limit;
2. the team's common pool, when the request is priority (the key's or the user's ``priority`` flag,
   or a ``critical`` priority header) or the team allows every member to fall back to it (``allow_pool``);
3. a vacationing teammate's shared part: when a user goes on vacation, ``vacation_share_pct`` of what
   their personal wallet could still spend, ``(pool - used) * pct / 100``, is lent to their team until
   they return, by letting teammates reserve from their wallet down to a ``lend_floor`` above its hard
   limit;
4. refused: ``insufficient_quota`` (HTTP 402), and an audit row.

Approval requests and peer transfers are in ``alfred.ledger.approvals``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from alfred.errors import InsufficientQuotaError, InvalidRequestError, NotFoundError, PermissionDeniedError
from alfred.ledger.audit import AuditEvent, AuditLog
from alfred.ledger.tables import Team, User, Wallet, utc_now
from alfred.ledger.wallets import Hold, Wallets
from alfred.state.db import Database

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class _Payer:
    """What the cascade needs to know about the caller, read in one query."""

    status: str
    team_id: int | None
    user_priority: bool
    allow_pool: bool
    team_wallet: int | None


class Governance:
    """Reserves a request's cost from the wallet the cascade picks, and turns vacation sharing on and off."""

    def __init__(self, db: Database, wallets: Wallets, audit: AuditLog, *, clock: Clock = utc_now) -> None:
        self._db = db
        self._wallets = wallets
        self._audit = audit
        self._clock = clock

    async def reserve(
        self,
        user_id: int,
        request_id: str,
        amount: int,
        *,
        key_id: int | None = None,
        priority: bool = False,
        model: str | None = None,
        ip_address: str | None = None,
        ttl: timedelta | None = None,
        fresh_id: bool = False,
    ) -> Hold:
        """Hold ``amount`` for ``request_id`` on the first wallet of the cascade that can cover it.

        Idempotent: a request id that already holds gets that hold back (``replayed``). ``fresh_id``
        says the caller made this id for this request (no client sent it): only such requests may
        hold on a credit lease (``alfred.ledger.leases``), when leases are on. Raises
        ``InsufficientQuotaError`` (audited) when nothing can pay, ``PermissionDeniedError`` for a
        suspended user. ``hold.soft_limit_warning`` asks the caller to warn the client.
        """
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise InvalidRequestError(
                "amount must be a non-negative integer of micro-credits", param="amount"
            )

        leases = self._wallets.leases
        if leases is not None and fresh_id and amount > 0:
            taken = await leases.hold(user_id, request_id, amount, key_id)
            if taken is not None:
                return self._wallets.leased(taken.hold, replayed=taken.replayed)

        async def attempt(session: AsyncSession) -> Hold:
            hold = await self._wallets.try_hold_personal(
                session, user_id, request_id, amount, key_id=key_id, model=model, ttl=ttl
            )
            if hold is None:
                payer = await self._payer(session, user_id)
                hold = await self._cascade(
                    session, user_id, payer, request_id, amount, key_id, priority, model, ttl
                )
            if hold is None:
                raise InsufficientQuotaError(
                    "insufficient quota: neither your personal wallet nor any pool you may draw on can cover "
                    f"this request ({amount} micro-credits reserved up front)"
                )
            if key_id is not None:
                await self._wallets.hold_key(session, key_id, amount)
            if hold.soft_limit_crossed:
                details = {"wallet_id": hold.wallet_id, "request_id": request_id, "source": hold.source}
                await self._audit.append(
                    session,
                    AuditEvent("budget.soft_limit", f"wallet {hold.wallet_id} fell below its soft limit",
                               user_id, details, ip_address),
                )  # fmt: skip
            return hold

        async def fast() -> Hold:
            # The common case, personal wallet pays, in one trip; the cascade and audited soft-limit
            # crossings run through ``attempt``.
            return await self._wallets.hold_personal_fast(
                user_id, request_id, amount, key_id=key_id, model=model, ttl=ttl, check_charged=not fresh_id
            )

        try:
            return await self._wallets.reserve_with(request_id, attempt, fast)
        except InsufficientQuotaError as exc:
            details = {
                "request_id": request_id,
                "amount": amount,
                "key_id": key_id,
                "model": model,
                "reason": exc.message,
            }
            await self._audit.record(
                AuditEvent("budget.refused", "refused a request for budget", user_id, details, ip_address)
            )
            raise

    async def _payer(self, session: AsyncSession, user_id: int) -> _Payer:
        pool = aliased(Wallet)
        row = (
            await session.execute(
                select(User.status, User.team_id, User.priority, Team.allow_pool, pool.id)
                .outerjoin(Team, Team.id == User.team_id)
                .outerjoin(pool, (pool.owner_type == "team") & (pool.owner_id == User.team_id))
                .where(User.id == user_id)
            )
        ).one_or_none()
        if row is None:
            raise NotFoundError(f"user {user_id} does not exist", param="user_id")
        payer = _Payer(row[0], row[1], row[2], bool(row[3]), row[4])
        if payer.status == "suspended":
            raise PermissionDeniedError(f"user {user_id} is suspended", code="user_suspended")
        return payer

    async def _cascade(
        self,
        session: AsyncSession,
        user_id: int,
        payer: _Payer,
        request_id: str,
        amount: int,
        key_id: int | None,
        priority: bool,
        model: str | None,
        ttl: timedelta | None,
    ) -> Hold | None:
        # The personal wallet was tried first, by reserve().
        if payer.team_id is None:
            return None
        if payer.team_wallet is not None and (priority or payer.user_priority or payer.allow_pool):
            hold = await self._wallets.try_hold(
                session, payer.team_wallet, request_id, amount, source="team", user_id=user_id,
                key_id=key_id, model=model, ttl=ttl,
            )  # fmt: skip
            if hold is not None:
                return hold
        lenders = (
            (
                await session.execute(
                    select(Wallet.id)
                    .join(User, (Wallet.owner_type == "user") & (Wallet.owner_id == User.id))
                    .where(
                        User.team_id == payer.team_id,
                        User.status == "vacation",
                        User.id != user_id,
                        Wallet.lend_floor.is_not(None),
                        Wallet.balance - Wallet.reserved - amount >= Wallet.lend_floor,
                    )
                    .order_by((Wallet.balance - Wallet.reserved - Wallet.lend_floor).desc(), Wallet.id)
                )
            )
            .scalars()
            .all()
        )
        for wallet_id in lenders:
            hold = await self._wallets.try_hold(
                session, wallet_id, request_id, amount, source="vacation", lend=True, user_id=user_id,
                key_id=key_id, model=model, ttl=ttl,
            )  # fmt: skip
            if hold is not None:
                return hold
        return None

    async def set_vacation(
        self, user_id: int, on: bool, *, actor_id: int | None = None, ip_address: str | None = None
    ) -> int:
        """Mark a user on vacation (lending their share to the team) or back; returns the share lent."""
        async with self._db.transaction() as session:
            user = await session.get(User, user_id, with_for_update=True)
            if user is None:
                raise NotFoundError(f"user {user_id} does not exist", param="user_id")
            if user.status == "suspended":
                raise InvalidRequestError(f"user {user_id} is suspended", code="user_suspended")
            wallet = (
                await session.execute(
                    select(Wallet)
                    .where(Wallet.owner_type == "user", Wallet.owner_id == user_id)
                    .with_for_update()
                )
            ).scalar()
            share = 0
            if on:
                if user.team_id is None:
                    raise InvalidRequestError("only a team member can lend a vacation share", code="no_team")
                if user.status == "vacation":
                    return 0 if wallet is None or wallet.lend_floor is None else self._share(wallet)
                team = await session.get(Team, user.team_id)
                assert team is not None
                floor = None
                if wallet is not None:
                    unused = max(0, wallet.balance - wallet.reserved - wallet.hard_limit)
                    share = unused * team.vacation_share_pct // 100
                    floor = wallet.balance - wallet.reserved - share
                    await session.execute(
                        update(Wallet).where(Wallet.id == wallet.id).values(lend_floor=floor)
                    )
                await session.execute(update(User).where(User.id == user_id).values(status="vacation"))
            else:
                if user.status != "vacation":
                    return 0
                if wallet is not None:
                    await session.execute(
                        update(Wallet).where(Wallet.id == wallet.id).values(lend_floor=None)
                    )
                await session.execute(update(User).where(User.id == user_id).values(status="active"))
            details = {"user_id": user_id, "share": share, "wallet_id": wallet.id if wallet else None}
            event = "vacation.on" if on else "vacation.off"
            await self._audit.append(
                session, AuditEvent(event, f"user {user_id} {'left on' if on else 'back from'} vacation",
                                    actor_id, details, ip_address),
            )  # fmt: skip
            return share

    @staticmethod
    def _share(wallet: Wallet) -> int:
        assert wallet.lend_floor is not None
        return max(0, wallet.balance - wallet.reserved - wallet.lend_floor)
