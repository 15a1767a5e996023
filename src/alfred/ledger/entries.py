"""Double-entry postings: every credit movement is one transaction whose entries sum to zero.

These functions run inside a caller's write transaction (``Database.transaction()``) so that a movement
commits together with whatever caused it: a settled reservation, an approved request, its audit row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from alfred.errors import InsufficientQuotaError, InvalidRequestError, NotFoundError
from alfred.ledger.tables import SYSTEM_ACCOUNTS, LedgerEntry, LedgerTransaction, Wallet

Account = int | str  # a wallet id, or a system account: "external" (money in and out), "revenue" (usage)
_NO_SYNC = {"synchronize_session": False}


@dataclass(frozen=True, slots=True)
class Details:
    """What a transaction records besides money: who, which request, which model and how many tokens."""

    user_id: int | None = None
    key_id: int | None = None
    request_id: str | None = None
    idempotency_key: str | None = None
    model: str | None = None
    provider: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    memo: str | None = None


@dataclass(frozen=True, slots=True)
class Posting:
    """A committed movement: its transaction and each wallet's balance after it."""

    transaction_id: uuid.UUID
    type: str
    amount: int
    balances: Mapping[int, int] = field(default_factory=dict)
    replayed: bool = False


def positive_amount(amount: int, param: str = "amount") -> int:
    """Amounts moved between accounts are positive integers; a negative one would reverse the direction."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidRequestError(f"{param} must be an integer number of micro-credits", param=param)
    if amount <= 0:
        raise InvalidRequestError(
            f"{param} must be positive, got {amount}", param=param, code="invalid_amount"
        )
    return amount


async def lock_wallets(session: AsyncSession, wallet_ids: Iterable[int]) -> None:
    """Row-lock wallets in id order before touching several, so two opposite transfers cannot deadlock.
    (SQLite ignores FOR UPDATE; its single writer already excludes everyone else.)"""
    ids = sorted(set(wallet_ids))
    if len(ids) > 1 and session.get_bind().dialect.name != "sqlite":
        await session.execute(
            select(Wallet.id).where(Wallet.id.in_(ids)).order_by(Wallet.id).with_for_update()
        )


async def debit(session: AsyncSession, wallet_id: int, amount: int, *, floor: bool = True) -> int:
    """Take ``amount`` from an active wallet, never below its hard limit; returns the new balance."""
    query = update(Wallet).where(Wallet.id == wallet_id, Wallet.status == "active")
    if floor:
        query = query.where(Wallet.balance - Wallet.reserved - amount >= Wallet.hard_limit)
    new_balance = (
        await session.execute(
            query.values(balance=Wallet.balance - amount).returning(Wallet.balance),
            execution_options=_NO_SYNC,
        )
    ).scalar_one_or_none()
    if new_balance is None:
        wallet = await session.get(Wallet, wallet_id)
        if wallet is None:
            raise NotFoundError(f"wallet {wallet_id} does not exist", param="wallet_id")
        if wallet.status != "active":
            raise InvalidRequestError(f"wallet {wallet_id} is {wallet.status}", code="wallet_inactive")
        raise InsufficientQuotaError(
            f"wallet {wallet_id} cannot pay {amount} micro-credits without going below its hard limit"
        )
    return int(new_balance)


async def credit(session: AsyncSession, wallet_id: int, amount: int) -> int:
    """Add ``amount`` to a wallet that is not closed; returns the new balance."""
    new_balance = (
        await session.execute(
            update(Wallet)
            .where(Wallet.id == wallet_id, Wallet.status != "closed")
            .values(balance=Wallet.balance + amount)
            .returning(Wallet.balance),
            execution_options=_NO_SYNC,
        )
    ).scalar_one_or_none()
    if new_balance is None:
        if await session.get(Wallet, wallet_id) is None:
            raise NotFoundError(f"wallet {wallet_id} does not exist", param="wallet_id")
        raise InvalidRequestError(f"wallet {wallet_id} is closed", code="wallet_inactive")
    return int(new_balance)


async def write_transaction(
    session: AsyncSession,
    *,
    type: str,
    amount: int,
    legs: Sequence[tuple[Account, int, int | None]],
    details: Details,
    now: datetime,
    wallet_id: int | None = None,
    transaction_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Insert a transaction and its entries: ``legs`` are (account, signed amount, balance after)."""
    if sum(leg[1] for leg in legs) != 0:
        raise ValueError(f"unbalanced transaction: {legs}")
    for account, _, _ in legs:
        if isinstance(account, str) and account not in SYSTEM_ACCOUNTS:
            raise ValueError(f"unknown system account {account!r}")
    tx_id = transaction_id or uuid.uuid4()
    await session.execute(
        insert(LedgerTransaction).values(
            id=tx_id,
            type=type,
            amount=amount,
            wallet_id=wallet_id,
            user_id=details.user_id,
            key_id=details.key_id,
            request_id=details.request_id,
            idempotency_key=details.idempotency_key,
            model=details.model,
            provider=details.provider,
            prompt_tokens=details.prompt_tokens,
            completion_tokens=details.completion_tokens,
            memo=details.memo,
            created_at=now,
        )
    )
    rows = [
        {
            "transaction_id": tx_id,
            "wallet_id": account if isinstance(account, int) else None,
            "system_account": account if isinstance(account, str) else None,
            "amount": signed,
            "balance_after": balance_after,
            "created_at": now,
        }
        for account, signed, balance_after in legs
        if signed != 0
    ]
    if rows:
        # The Core table, not the entity: the ORM would split rows by which columns are None (a wallet
        # leg and a system leg), one statement each; this is one INSERT for every leg.
        await session.execute(insert(cast(Table, LedgerEntry.__table__)), rows)
    return tx_id


async def move(
    session: AsyncSession,
    *,
    type: str,
    amount: int,
    source: Account,
    target: Account,
    details: Details,
    now: datetime,
    floor: bool = True,
) -> Posting:
    """Move a positive ``amount`` from ``source`` to ``target`` as one balanced transaction."""
    positive_amount(amount)
    if source == target:
        raise InvalidRequestError("cannot move credits from an account to itself", code="same_account")
    wallets = [a for a in (source, target) if isinstance(a, int)]
    await lock_wallets(session, wallets)
    balances: dict[int, int] = {}
    if isinstance(source, int):
        balances[source] = await debit(session, source, amount, floor=floor)
    if isinstance(target, int):
        balances[target] = await credit(session, target, amount)
    legs = [
        (source, -amount, balances[source] if isinstance(source, int) else None),
        (target, amount, balances[target] if isinstance(target, int) else None),
    ]
    tx_id = await write_transaction(
        session,
        type=type,
        amount=amount,
        legs=legs,
        details=details,
        now=now,
        wallet_id=source if isinstance(source, int) else target if isinstance(target, int) else None,
    )
    return Posting(tx_id, type, amount, balances)
