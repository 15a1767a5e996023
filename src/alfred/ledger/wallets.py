"""Wallets and the request lifecycle on them: reserve → settle or release, idempotent per request id.

Before an upstream call the worst-case cost is *reserved*: one conditional UPDATE raises the wallet's
``reserved`` only while ``balance - reserved - amount ≥ floor`` holds, so however many processes race,
a wallet never promises more than it has. After the call the real cost is *settled* (a balanced charge
from the wallet to ``revenue``) and the hold is dropped; on failure it is *released*. A request id holds
at most one reservation and is charged at most once (unique indexes back both), so retries replay the
first outcome. Reservations whose process died are expired by ``reconcile_expired``.

The request path -- a hold on the personal wallet, settle, release -- runs as ``alfred.ledger.hotpath``
scripts, one trip to the database each (``alfred.ledger.trips``); the quota cascade, the audited
soft-limit crossing and the admin operations stay on the ORM below.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from alfred.errors import InsufficientQuotaError, InvalidRequestError, NotFoundError
from alfred.ledger import hotpath
from alfred.ledger.charging import (
    Charge,
    charged_before,
    expire_due,
    settled_before,
)
from alfred.ledger.entries import Account, Details, write_transaction
from alfred.ledger.leases import LeaseBook, LeaseHold
from alfred.ledger.settings import LeaseSettings
from alfred.ledger.tables import ApiKey, Reservation, User, Wallet, utc_now
from alfred.ledger.trips import Fallback, Trips
from alfred.state.db import Database

Clock = Callable[[], datetime]
_NO_SYNC = {"synchronize_session": False}


@dataclass(frozen=True, slots=True)
class Hold:
    """A reservation: credits held on one wallet for one request."""

    request_id: str
    wallet_id: int
    amount: int
    state: str  # open | settled | released | expired
    source: str  # personal | team | vacation | direct
    expires_at: datetime
    user_id: int | None = None
    key_id: int | None = None
    charged: int | None = None
    replayed: bool = False  # this request id already had a reservation; this is it
    soft_limit_warning: bool = False  # the wallet is below its soft limit after this hold
    soft_limit_crossed: bool = False  # …and this hold is what took it there


def _hold(row: Reservation, **extra: Any) -> Hold:
    return Hold(
        request_id=row.request_id,
        wallet_id=row.wallet_id,
        amount=row.amount,
        state=row.state,
        source=row.source,
        expires_at=row.expires_at,
        user_id=row.user_id,
        key_id=row.key_id,
        charged=row.charged,
        **extra,
    )


def _check_cost(amount: int, param: str) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise InvalidRequestError(f"{param} must be a non-negative integer of micro-credits", param=param)


class Wallets:
    """Reserve, settle, release and reconcile on wallets; every method is one database transaction."""

    def __init__(
        self,
        db: Database,
        *,
        reservation_ttl: timedelta = timedelta(minutes=15),
        clock: Clock = utc_now,
        leases: LeaseSettings | None = None,
    ):
        self._db = db
        self._ttl = reservation_ttl
        self._clock = clock
        self._trips = Trips(db)
        # Credit leases (``alfred.ledger.leases``): settle and release consult them first when on.
        self.leases = (
            LeaseBook(db, self._trips, leases, clock) if leases is not None and leases.enabled else None
        )

    @staticmethod
    def leased(hold: LeaseHold, *, state: str = "open", replayed: bool = False) -> Hold:
        """A request's hold on a lease, as a ``Hold`` (its expiry is its lease's)."""
        lease = hold.lease
        return Hold(
            hold.request_id, lease.wallet_id, hold.amount, state, "personal", lease.expires_at,
            hold.user_id, hold.key_id, replayed=replayed,
        )  # fmt: skip

    async def close(self) -> None:
        """Return this process's leases (their unused credit goes back to the wallets), then close
        the request path's writer."""
        if self.leases is not None:
            await self.leases.close()
        await self._trips.close()

    async def find_hold(self, request_id: str) -> Hold | None:
        async with self._db.session() as session:
            return await self.existing_hold(session, request_id)

    async def existing_hold(self, session: AsyncSession, request_id: str) -> Hold | None:
        row = (
            await session.execute(select(Reservation).where(Reservation.request_id == request_id))
        ).scalar()
        return _hold(row) if row is not None else None

    async def try_hold(
        self,
        session: AsyncSession,
        wallet_id: int,
        request_id: str,
        amount: int,
        *,
        source: str = "direct",
        lend: bool = False,
        user_id: int | None = None,
        key_id: int | None = None,
        model: str | None = None,
        ttl: timedelta | None = None,
    ) -> Hold | None:
        """One atomic attempt to hold ``amount`` on a wallet, down to its hard limit (or, with ``lend``,
        its vacation lending floor); None when it cannot cover it."""
        floor = Wallet.lend_floor if lend else Wallet.hard_limit
        return await self._hold_where(
            session, [Wallet.id == wallet_id], floor, request_id, amount, source, user_id, key_id, model, ttl
        )

    async def try_hold_personal(
        self,
        session: AsyncSession,
        user_id: int,
        request_id: str,
        amount: int,
        *,
        key_id: int | None = None,
        model: str | None = None,
        ttl: timedelta | None = None,
    ) -> Hold | None:
        """Hold on the personal wallet of a user who is not suspended, found through the owner index so
        the common case needs no look-up first."""
        owner = [
            Wallet.owner_type == "user",
            Wallet.owner_id == user_id,
            Wallet.owner_id.in_(select(User.id).where(User.id == user_id, User.status != "suspended")),
        ]
        return await self._hold_where(
            session, owner, Wallet.hard_limit, request_id, amount, "personal", user_id, key_id, model, ttl
        )

    async def _hold_where(
        self,
        session: AsyncSession,
        which: list[ColumnElement[bool]],
        floor: ColumnElement[int | None] | InstrumentedAttribute[int | None] | InstrumentedAttribute[int],
        request_id: str,
        amount: int,
        source: str,
        user_id: int | None,
        key_id: int | None,
        model: str | None,
        ttl: timedelta | None,
    ) -> Hold | None:
        row = (
            await session.execute(
                update(Wallet)
                .where(*which, Wallet.status == "active", Wallet.balance - Wallet.reserved - amount >= floor)
                .values(reserved=Wallet.reserved + amount)
                .returning(Wallet.id, Wallet.balance, Wallet.reserved, Wallet.soft_limit),
                execution_options=_NO_SYNC,
            )
        ).one_or_none()
        if row is None:
            return None
        now = self._clock()
        expires_at = now + (ttl or self._ttl)
        # A duplicate request id fails here on the unique index; reserve_with turns that into a replay.
        await session.execute(
            insert(Reservation).values(
                request_id=request_id, wallet_id=row.id, user_id=user_id, key_id=key_id, source=source,
                amount=amount, state="open", model=model, created_at=now, expires_at=expires_at,
            )
        )  # fmt: skip
        left = row.balance - row.reserved
        warning = row.soft_limit is not None and left < row.soft_limit
        crossed = warning and left + amount >= row.soft_limit
        return Hold(
            request_id,
            row.id,
            amount,
            "open",
            source,
            expires_at,
            user_id,
            key_id,
            None,
            False,
            warning,
            crossed,
        )

    async def hold_key(self, session: AsyncSession, key_id: int, amount: int) -> None:
        """Hold ``amount`` against a key's own budget too (keys without a budget always pass)."""
        held = (
            await session.execute(
                update(ApiKey)
                .where(
                    ApiKey.id == key_id,
                    (ApiKey.budget.is_(None)) | (ApiKey.spent + ApiKey.reserved + amount <= ApiKey.budget),
                )
                .values(reserved=ApiKey.reserved + amount)
                .returning(ApiKey.id),
                execution_options=_NO_SYNC,
            )
        ).scalar_one_or_none()
        if held is None:
            raise InsufficientQuotaError(f"the budget of API key {key_id} is spent")

    async def reserve_with(
        self,
        request_id: str,
        attempt: Callable[[AsyncSession], Awaitable[Hold]],
        fast: Callable[[], Awaitable[Hold]] | None = None,
    ) -> Hold:
        """Run ``attempt`` in a write transaction (after ``fast``, when given, raised ``Fallback``). If
        ``request_id`` already has a reservation, that one is returned instead (``replayed``): the
        happy path pays for no look-up, because a duplicate either collides on the unique index or
        finds the wallet already drained by its first try."""
        try:
            if fast is not None:
                try:
                    return await fast()
                except Fallback:
                    pass
            async with self._db.transaction() as session:
                return await attempt(session)
        except (IntegrityError, InsufficientQuotaError):
            existing = await self.find_hold(request_id)
            if existing is None:
                raise
            return replace(existing, replayed=True)

    async def hold_personal_fast(
        self,
        user_id: int,
        request_id: str,
        amount: int,
        *,
        key_id: int | None = None,
        model: str | None = None,
        ttl: timedelta | None = None,
        check_charged: bool = False,
    ) -> Hold:
        """``try_hold_personal`` and ``hold_key`` in one trip to the database (``alfred.ledger.trips``);
        raises ``Fallback`` for anything the general path must decide. With ``check_charged`` (a
        request id a client sent) a request id charged before (through a credit lease, which writes no
        reservation row) comes back as its settled hold, ``replayed``."""
        now = self._clock()
        expires_at = now + (ttl or self._ttl)
        try:
            held = await self._trips.run(
                lambda: hotpath.hold_personal(
                    self._trips.dialect, user_id, request_id, amount, key_id, model, now, expires_at,
                    check_charged=check_charged,
                )
            )  # fmt: skip
        except hotpath.ChargedBefore as charged:
            return Hold(
                request_id, charged.wallet_id, charged.amount, "settled", "personal", now, user_id, key_id,
                charged.amount, replayed=True,
            )  # fmt: skip
        warning = held.soft_limit is not None and held.left < held.soft_limit
        return Hold(
            request_id, held.wallet_id, amount, "open", "personal", expires_at, user_id, key_id,
            soft_limit_warning=warning,
        )  # fmt: skip

    async def reserve(
        self,
        wallet_id: int,
        request_id: str,
        amount: int,
        *,
        user_id: int | None = None,
        key_id: int | None = None,
        model: str | None = None,
        ttl: timedelta | None = None,
    ) -> Hold:
        """Hold ``amount`` on one given wallet (the governance cascade picks the wallet for requests)."""
        _check_cost(amount, "amount")

        async def attempt(session: AsyncSession) -> Hold:
            hold = await self.try_hold(
                session, wallet_id, request_id, amount, user_id=user_id, key_id=key_id, model=model, ttl=ttl
            )
            if hold is None:
                if await session.get(Wallet, wallet_id) is None:
                    raise NotFoundError(f"wallet {wallet_id} does not exist", param="wallet_id")
                raise InsufficientQuotaError(f"wallet {wallet_id} cannot cover {amount} micro-credits")
            if key_id is not None:
                await self.hold_key(session, key_id, amount)
            return hold

        return await self.reserve_with(request_id, attempt)

    async def settle(
        self,
        request_id: str,
        cost: int,
        *,
        model: str | None = None,
        provider: str | None = None,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        kind: str = "charge",
    ) -> Charge:
        """Charge the real cost of a reserved request and drop its hold. A cost beyond what the wallet
        can pay above its hard limit is charged only up to that limit (``shortfall``). Settling again
        returns the first charge; settling after the reservation expired still charges (capped)."""
        _check_cost(cost, "cost")
        request = hotpath.SettleRequest(
            request_id,
            cost,
            uuid.uuid4(),
            self._clock(),
            kind,
            model,
            provider,
            prompt_tokens,
            completion_tokens,
        )
        leased = self.leases.holds.get(request_id) if self.leases is not None else None
        try:
            if leased is not None:
                assert self.leases is not None
                charge: Charge | None = await self.leases.settle(leased, request)
            else:
                charge = await self._trips.run(lambda: hotpath.settle(self._trips, request))
        except IntegrityError:
            charge = None
        if charge is not None:
            return charge
        async with self._db.session() as session:
            return await settled_before(session, request_id)

    async def release(self, request_id: str) -> Hold | None:
        """Drop a reservation without charging (the call failed). Idempotent; None if there was none."""
        if self.leases is not None:
            leased = self.leases.release(request_id)
            if leased is not None:
                return self.leased(leased, state="released")
        released = await self._trips.run(lambda: hotpath.release(request_id, self._clock()))
        if released is None:
            existing = await self.find_hold(request_id)
            return replace(existing, replayed=True) if existing is not None else None
        return Hold(
            request_id, released.wallet_id, released.amount, "released", released.source,
            self._trips.time(released.expires_at), released.user_id, released.key_id, released.charged,
        )  # fmt: skip

    async def reconcile_expired(self, *, limit: int = 1000) -> list[Hold]:
        """Expire open reservations past their time (their process died or hung) and free their holds."""
        now = self._clock()
        async with self._db.transaction() as session:
            rows = await expire_due(session, now, limit)
            return [_hold(r) for r in rows]

    async def charge(
        self,
        wallet_id: int,
        request_id: str,
        cost: int,
        *,
        kind: str = "cache_hit",
        user_id: int | None = None,
        key_id: int | None = None,
        model: str | None = None,
        provider: str | None = None,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
    ) -> Charge:
        """Charge a known cost with no reservation (e.g. a cache hit); refused below the hard limit."""
        _check_cost(cost, "cost")
        now = self._clock()
        try:
            async with self._db.transaction() as session:
                balance = (
                    await session.execute(
                        update(Wallet)
                        .where(
                            Wallet.id == wallet_id,
                            Wallet.status == "active",
                            Wallet.balance - Wallet.reserved - cost >= Wallet.hard_limit,
                        )
                        .values(balance=Wallet.balance - cost)
                        .returning(Wallet.balance),
                        execution_options=_NO_SYNC,
                    )
                ).scalar_one_or_none()
                if balance is None:
                    raise InsufficientQuotaError(f"wallet {wallet_id} cannot cover {cost} micro-credits")
                details = Details(
                    user_id=user_id, key_id=key_id, request_id=request_id, model=model, provider=provider,
                    prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                )  # fmt: skip
                legs: list[tuple[Account, int, int | None]] = [
                    (wallet_id, -cost, balance),
                    ("revenue", cost, None),
                ]
                tx_id = await write_transaction(
                    session, type=kind, amount=cost, legs=legs, details=details, now=now, wallet_id=wallet_id
                )
                if key_id is not None:
                    await session.execute(
                        update(ApiKey).where(ApiKey.id == key_id).values(spent=ApiKey.spent + cost),
                        execution_options=_NO_SYNC,
                    )
                return Charge(request_id, wallet_id, cost, cost, tx_id)
        except IntegrityError:
            async with self._db.session() as session:
                return await charged_before(session, request_id)
