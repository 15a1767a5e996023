"""Wallet administration: open wallets, top them up, move credits between them, change their limits.

Every change here is a governance action, so each commits together with its audit row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from alfred.errors import InvalidRequestError, NotFoundError
from alfred.ledger.audit import AuditEvent, AuditLog
from alfred.ledger.entries import Details, Posting, move, positive_amount
from alfred.ledger.tables import LedgerTransaction, Wallet, utc_now
from alfred.state.db import Database

Clock = Callable[[], datetime]
_UNSET = object()


@dataclass(frozen=True, slots=True)
class WalletInfo:
    """A wallet's state; ``spendable`` is what new reservations may still take."""

    id: int
    owner_type: str
    owner_id: int
    balance: int
    reserved: int
    hard_limit: int
    soft_limit: int | None
    lend_floor: int | None
    status: str

    @property
    def spendable(self) -> int:
        return max(0, self.balance - self.reserved - self.hard_limit)


def wallet_info(row: Wallet) -> WalletInfo:
    return WalletInfo(
        row.id, row.owner_type, row.owner_id, row.balance, row.reserved, row.hard_limit, row.soft_limit,
        row.lend_floor, row.status,
    )  # fmt: skip


async def open_wallet(
    session: AsyncSession,
    owner_type: str,
    owner_id: int,
    *,
    hard_limit: int = 0,
    soft_limit: int | None = None,
) -> int:
    """Create the wallet of a user or team inside the caller's transaction; returns its id."""
    return int(
        (
            await session.execute(
                insert(Wallet)
                .values(
                    owner_type=owner_type, owner_id=owner_id, balance=0, reserved=0, hard_limit=hard_limit,
                    soft_limit=soft_limit, status="active",
                )
                .returning(Wallet.id)
            )
        ).scalar_one()
    )  # fmt: skip


class Accounts:
    """Reads wallets and makes the audited changes to them: top-ups, transfers, limits, status."""

    def __init__(self, db: Database, audit: AuditLog, *, clock: Clock = utc_now) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock

    async def get(self, wallet_id: int) -> WalletInfo:
        async with self._db.session() as session:
            row = await session.get(Wallet, wallet_id)
            if row is None:
                raise NotFoundError(f"wallet {wallet_id} does not exist", param="wallet_id")
            return wallet_info(row)

    async def find(self, owner_type: str, owner_id: int) -> WalletInfo | None:
        async with self._db.session() as session:
            row = (
                await session.execute(
                    select(Wallet).where(Wallet.owner_type == owner_type, Wallet.owner_id == owner_id)
                )
            ).scalar()
            return wallet_info(row) if row is not None else None

    async def topup(
        self,
        wallet_id: int,
        amount: int,
        *,
        actor_id: int | None = None,
        memo: str | None = None,
        idempotency_key: str | None = None,
        ip_address: str | None = None,
    ) -> Posting:
        """Credit a wallet from the ``external`` account. With an ``idempotency_key`` a retried top-up
        returns the first one instead of paying twice."""
        positive_amount(amount)
        try:
            async with self._db.transaction() as session:
                posting = await move(
                    session, type="topup", amount=amount, source="external", target=wallet_id,
                    details=Details(user_id=actor_id, idempotency_key=idempotency_key, memo=memo), now=self._clock(),
                )  # fmt: skip
                details = {
                    "wallet_id": wallet_id,
                    "amount": amount,
                    "transaction_id": str(posting.transaction_id),
                }
                await self._audit.append(
                    session,
                    AuditEvent(
                        "wallet.topup", f"topped up wallet {wallet_id}", actor_id, details, ip_address
                    ),
                )
                return posting
        except IntegrityError:
            if idempotency_key is None:
                raise
            return await self._replay(idempotency_key)

    async def _replay(self, idempotency_key: str) -> Posting:
        async with self._db.session() as session:
            row = (
                await session.execute(
                    select(LedgerTransaction).where(LedgerTransaction.idempotency_key == idempotency_key)
                )
            ).scalar()
        if row is None:
            raise InvalidRequestError(
                "conflicting retry of an idempotent operation", code="idempotency_conflict"
            )
        return Posting(row.id, row.type, row.amount, replayed=True)

    async def transfer(
        self,
        from_wallet: int,
        to_wallet: int,
        amount: int,
        *,
        actor_id: int | None = None,
        memo: str | None = None,
        idempotency_key: str | None = None,
        ip_address: str | None = None,
    ) -> Posting:
        """Move credits between two wallets in one transaction (admin transfer; peers use governance)."""
        positive_amount(amount)
        if from_wallet == to_wallet:
            raise InvalidRequestError("cannot transfer a wallet's credits to itself", code="same_account")
        try:
            async with self._db.transaction() as session:
                posting = await move(
                    session, type="transfer", amount=amount, source=from_wallet, target=to_wallet,
                    details=Details(user_id=actor_id, idempotency_key=idempotency_key, memo=memo), now=self._clock(),
                )  # fmt: skip
                details = {
                    "from_wallet": from_wallet, "to_wallet": to_wallet, "amount": amount,
                    "transaction_id": str(posting.transaction_id),
                }  # fmt: skip
                event = AuditEvent(
                    "wallet.transfer",
                    f"moved credits from wallet {from_wallet} to {to_wallet}",
                    actor_id,
                    details,
                    ip_address,
                )
                await self._audit.append(session, event)
                return posting
        except IntegrityError:
            if idempotency_key is None:
                raise
            return await self._replay(idempotency_key)

    async def set_limits(
        self,
        wallet_id: int,
        *,
        hard_limit: int | None = None,
        soft_limit: int | object | None = _UNSET,
        status: str | None = None,
        actor_id: int | None = None,
        ip_address: str | None = None,
    ) -> WalletInfo:
        """Change a wallet's floor, warning level or status (audited). Raising the floor above the
        balance is allowed: the wallet simply cannot reserve until it is topped up."""
        values: dict[str, object] = {}
        if hard_limit is not None:
            values["hard_limit"] = hard_limit
        if soft_limit is not _UNSET:
            values["soft_limit"] = soft_limit
        if status is not None:
            if status not in ("active", "frozen", "closed"):
                raise InvalidRequestError(f"unknown wallet status {status!r}", param="status")
            values["status"] = status
        async with self._db.transaction() as session:
            before = await session.get(Wallet, wallet_id, with_for_update=True)
            if before is None:
                raise NotFoundError(f"wallet {wallet_id} does not exist", param="wallet_id")
            old = {k: getattr(before, k) for k in values}
            if values:
                await session.execute(update(Wallet).where(Wallet.id == wallet_id).values(**values))
                details = {"wallet_id": wallet_id, "before": old, "after": values}
                await self._audit.append(
                    session,
                    AuditEvent(
                        "wallet.limits",
                        f"changed limits of wallet {wallet_id}",
                        actor_id,
                        details,
                        ip_address,
                    ),
                )
            row = await session.get(Wallet, wallet_id, populate_existing=True)
            assert row is not None
            return wallet_info(row)
