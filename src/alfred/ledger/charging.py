"""What settling produces (``Charge``) and the ORM-side statements of the reservation lifecycle that
are not on the request path: expiring reservations, and looking up a settle or charge to replay.

The request path's own statements (claim, take, charge, count usage) are in ``alfred.ledger.hotpath``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from alfred.errors import InvalidRequestError, NotFoundError
from alfred.ledger.tables import ApiKey, LedgerTransaction, Reservation, Wallet

_NO_SYNC = {"synchronize_session": False}


@dataclass(frozen=True, slots=True)
class Charge:
    """The settled cost of a request: what was asked, what the wallet could pay, and its transaction."""

    request_id: str
    wallet_id: int
    cost: int
    charged: int
    transaction_id: uuid.UUID | None
    replayed: bool = False

    @property
    def shortfall(self) -> int:
        return self.cost - self.charged


@dataclass(frozen=True, slots=True)
class Claimed:
    """A reservation this transaction has just marked settled, and whether it was still holding."""

    id: int
    wallet_id: int
    amount: int
    user_id: int | None
    key_id: int | None
    source: str
    model: str | None
    was_open: bool


async def unhold(session: AsyncSession, wallets: dict[int, int], keys: dict[int, int]) -> None:
    """Drop released or expired holds from wallets and keys (in id order, so concurrent callers queue
    in the same order and cannot deadlock)."""
    for wallet_id in sorted(wallets):
        await session.execute(
            update(Wallet)
            .where(Wallet.id == wallet_id)
            .values(reserved=Wallet.reserved - wallets[wallet_id]),
            execution_options=_NO_SYNC,
        )
    for key_id in sorted(keys):
        await session.execute(
            update(ApiKey).where(ApiKey.id == key_id).values(reserved=ApiKey.reserved - keys[key_id]),
            execution_options=_NO_SYNC,
        )


async def expire_due(session: AsyncSession, now: datetime, limit: int) -> Sequence[Reservation]:
    """Mark up to ``limit`` open reservations past their expiry as expired and free their holds."""
    # SKIP LOCKED (PostgreSQL; SQLite has one writer anyway): two reconcilers take disjoint batches, and
    # a reservation being settled right now is left to its settle.
    due = (
        select(Reservation.id)
        .where(Reservation.state == "open", Reservation.expires_at <= now)
        .order_by(Reservation.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(
        update(Reservation)
        .where(Reservation.id.in_(due), Reservation.state == "open")
        .values(state="expired", closed_at=now)
        .returning(Reservation),
        execution_options=_NO_SYNC,
    )
    rows = result.scalars().all()
    wallets: dict[int, int] = defaultdict(int)
    keys: dict[int, int] = defaultdict(int)
    for row in rows:
        wallets[row.wallet_id] += row.amount
        if row.key_id is not None:
            keys[row.key_id] += row.amount
    await unhold(session, wallets, keys)
    return rows


async def settled_before(session: AsyncSession, request_id: str) -> Charge:
    """The first settle's outcome, for a repeated settle; an error if the reservation ended otherwise.
    A request charged through a credit lease has no reservation row: its charge is the answer."""
    row = (await session.execute(select(Reservation).where(Reservation.request_id == request_id))).scalar()
    if row is None:
        leased = await _charge_of(session, request_id)
        if leased is None or leased.wallet_id is None:
            raise NotFoundError(f"no reservation for request {request_id}", code="reservation_not_found")
        return Charge(request_id, leased.wallet_id, leased.amount, leased.amount, leased.id, replayed=True)
    if row.state != "settled":
        raise InvalidRequestError(
            f"the reservation for request {request_id} was {row.state}, not settled",
            code="reservation_closed",
        )
    charged = row.charged or 0
    return Charge(request_id, row.wallet_id, charged, charged, row.transaction_id, replayed=True)


async def charged_before(session: AsyncSession, request_id: str) -> Charge:
    """The charge a request already has, for a repeated direct charge."""
    row = await _charge_of(session, request_id)
    if row is None or row.wallet_id is None:
        raise InvalidRequestError(f"request {request_id} could not be charged", code="charge_conflict")
    return Charge(request_id, row.wallet_id, row.amount, row.amount, row.id, replayed=True)


async def _charge_of(session: AsyncSession, request_id: str) -> LedgerTransaction | None:
    query = select(LedgerTransaction).where(
        LedgerTransaction.request_id == request_id, LedgerTransaction.type.in_(("charge", "cache_hit"))
    )
    return (await session.execute(query)).scalar()
