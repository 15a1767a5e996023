"""The request path's transactions as ``trips`` scripts: reserve on the personal wallet, settle, release.

Each mirrors the ORM path it short-cuts statement for statement (``Wallets._hold_where`` and
``hold_key``; ``claim``, ``take``, ``write_transaction`` and ``count_usage``; ``Wallets.release``), so
the guards that keep the invariants are the same SQL: a hold is one conditional UPDATE that takes the
whole amount or nothing, a request id holds at most one reservation and is charged at most once
(unique indexes), and every charge is a balanced pair of entries. What the fast path does not cover
(the team pool and vacation cascade, an audit row for a crossed soft limit, replays) raises
``Fallback`` and runs through the ORM instead.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from alfred.errors import InsufficientQuotaError
from alfred.ledger import hotpath_pg
from alfred.ledger.charging import Charge, Claimed
from alfred.ledger.trips import Fallback, Query, Row, Script, Trips

HOLD_PERSONAL = Query("""
    UPDATE wallets SET reserved = reserved + :amount
    WHERE owner_type = 'user' AND owner_id = :user_id
      AND owner_id IN (SELECT id FROM users WHERE id = :user_id AND status != 'suspended')
      AND status = 'active' AND balance - reserved - :amount >= hard_limit
    RETURNING id, balance, reserved, soft_limit
""")
INSERT_RESERVATION = Query("""
    INSERT INTO reservations
        (request_id, wallet_id, user_id, key_id, source, amount, state, model, created_at, expires_at)
    VALUES (:request_id, :wallet_id, :user_id, :key_id, 'personal', :amount, 'open', :model, :now, :expires_at)
""")
HOLD_KEY = Query("""
    UPDATE api_keys SET reserved = reserved + :amount
    WHERE id = :key_id AND (budget IS NULL OR spent + reserved + :amount <= budget)
    RETURNING id
""")
CLAIM = Query("""
    UPDATE reservations SET state = 'settled', closed_at = :now, charged = :cost, transaction_id = :tx_id
    WHERE request_id = :request_id AND state = :state
    RETURNING id, wallet_id, amount, user_id, key_id, source, model
""")
TAKE = Query("""
    UPDATE wallets SET balance = balance - :cost, reserved = reserved - :held
    WHERE id = :wallet_id AND balance - reserved + :held - :cost >= hard_limit
    RETURNING balance, owner_id
""")
WALLET_LEFT = {
    "sqlite": Query("SELECT balance, reserved, hard_limit FROM wallets WHERE id = :wallet_id"),
    "postgresql": Query("SELECT balance, reserved, hard_limit FROM wallets WHERE id = :wallet_id FOR UPDATE"),
}
TAKE_ALL = Query("""
    UPDATE wallets SET balance = balance - :cost, reserved = reserved - :held WHERE id = :wallet_id
    RETURNING balance, owner_id
""")
SET_CHARGED = Query("UPDATE reservations SET charged = :charged WHERE id = :id")
INSERT_TRANSACTION = Query("""
    INSERT INTO ledger_transactions
        (id, type, amount, wallet_id, user_id, key_id, request_id, model, provider, prompt_tokens,
         completion_tokens, memo, created_at)
    VALUES (:tx_id, :type, :amount, :wallet_id, :user_id, :key_id, :request_id, :model, :provider,
            :prompt_tokens, :completion_tokens, :memo, :now)
""")
# Both legs of a charge in one statement: the wallet pays, revenue receives.
INSERT_CHARGE_ENTRIES = Query("""
    INSERT INTO ledger_entries (transaction_id, wallet_id, system_account, amount, balance_after, created_at)
    VALUES (:tx_id, :wallet_id, NULL, :debit, :balance, :now), (:tx_id, NULL, 'revenue', :amount, NULL, :now)
""")
KEY_SPENT = Query(
    "UPDATE api_keys SET spent = spent + :charged, reserved = reserved - :held WHERE id = :key_id"
)
USER_TOKENS = Query("UPDATE users SET used_tokens = used_tokens + :tokens WHERE id = :user_id")
TEAM_USED = Query("UPDATE teams SET used_pool = used_pool + :charged WHERE id = :team_id")
# A request charged through a credit lease has a transaction but no reservation row: a client's
# retry of its id must find it here, before it is held (and served) again.
CHARGED = Query("""
    SELECT wallet_id, amount FROM ledger_transactions
    WHERE request_id = :request_id AND type IN ('charge', 'cache_hit')
""")
RELEASE = Query("""
    UPDATE reservations SET state = 'released', closed_at = :now WHERE request_id = :request_id AND state = 'open'
    RETURNING wallet_id, amount, source, expires_at, user_id, key_id, charged
""")
UNHOLD_WALLET = Query("UPDATE wallets SET reserved = reserved - :amount WHERE id = :wallet_id")
UNHOLD_KEY = Query("UPDATE api_keys SET reserved = reserved - :amount WHERE id = :key_id")


class ChargedBefore(Exception):
    """This request id already has its charge (on ``wallet_id``, ``amount``): the script rolls back."""

    def __init__(self, wallet_id: int, amount: int) -> None:
        super().__init__(f"charged before: {amount} on wallet {wallet_id}")
        self.wallet_id = wallet_id
        self.amount = amount


@dataclass(frozen=True, slots=True)
class PersonalHold:
    """What a personal hold returns, for ``Wallets`` to turn into a ``Hold``."""

    wallet_id: int
    left: int  # balance - reserved after the hold
    soft_limit: int | None


def hold_personal(
    dialect: str, user_id: int, request_id: str, amount: int, key_id: int | None, model: str | None,
    now: datetime, expires_at: datetime, *, check_charged: bool = False,
) -> Script[PersonalHold]:  # fmt: skip
    """Hold on the user's personal wallet (and the key's budget). ``Fallback`` when the wallet cannot
    cover it, or when this hold is the one that crosses the wallet's soft limit (that needs an audit
    row, which the ORM path writes in the same transaction). With ``check_charged`` (an id a client
    sent), ``ChargedBefore`` when this request id was already charged."""
    if check_charged:
        charged = yield CHARGED(request_id=request_id)
        if charged:
            raise ChargedBefore(int(charged[0][0]), int(charged[0][1]))
    if dialect == "postgresql":
        rows = yield hotpath_pg.HOLD_PERSONAL(
            amount=amount, user_id=user_id, request_id=request_id, key_id=key_id, model=model, now=now,
            expires_at=expires_at,
        )  # fmt: skip
        if not rows:
            raise Fallback
        wallet_id, balance, reserved, soft_limit, key_held = rows[0]
        left = balance - reserved
        if soft_limit is not None and left < soft_limit <= left + amount:
            raise Fallback
        if key_id is not None and not key_held:
            raise InsufficientQuotaError(f"the budget of API key {key_id} is spent")
        return PersonalHold(wallet_id, left, soft_limit)
    rows = yield HOLD_PERSONAL(amount=amount, user_id=user_id)
    if not rows:
        raise Fallback
    wallet_id, balance, reserved, soft_limit = rows[0]
    left = balance - reserved
    if soft_limit is not None and left < soft_limit <= left + amount:
        raise Fallback
    # A duplicate request id fails here on the unique index: the caller replays the first hold.
    yield INSERT_RESERVATION(
        request_id=request_id, wallet_id=wallet_id, user_id=user_id, key_id=key_id, amount=amount,
        model=model, now=now, expires_at=expires_at,
    )  # fmt: skip
    if key_id is not None and not (yield HOLD_KEY(amount=amount, key_id=key_id)):
        raise InsufficientQuotaError(f"the budget of API key {key_id} is spent")
    return PersonalHold(wallet_id, left, soft_limit)


@dataclass(frozen=True, slots=True)
class SettleRequest:
    request_id: str
    cost: int
    tx_id: uuid.UUID
    now: datetime
    kind: str
    model: str | None
    provider: str | None
    prompt_tokens: int
    completion_tokens: int


def settle(trips: Trips, req: SettleRequest) -> Script[Charge | None]:
    """Claim the reservation, charge the wallet (capped at its hard limit), write the balanced charge
    and count usage; None when there was nothing left to claim (the caller looks up what happened)."""
    if trips.dialect == "postgresql":
        rows = yield hotpath_pg.SETTLE_OPEN(
            now=req.now, cost=req.cost, tx_id=req.tx_id, request_id=req.request_id, type=req.kind,
            model=req.model, provider=req.provider, prompt_tokens=req.prompt_tokens,
            completion_tokens=req.completion_tokens, tokens=req.prompt_tokens + req.completion_tokens,
        )  # fmt: skip
        if rows and rows[0][7] is not None:
            return Charge(req.request_id, rows[0][1], req.cost, req.cost, req.tx_id)
        if rows:  # claimed, but the wallet cannot pay it all: cap the charge below
            return (yield from _charge(trips, req, _claimed(rows[0], was_open=True)))
    claimed = None
    for state in ("open", "expired"):
        rows = yield CLAIM(
            now=req.now, cost=req.cost, tx_id=req.tx_id, request_id=req.request_id, state=state
        )
        if rows:
            claimed = _claimed(rows[0], was_open=state == "open")
            break
    if claimed is None:
        return None
    return (yield from _charge(trips, req, claimed))


def _claimed(row: Row, *, was_open: bool) -> Claimed:
    id_, wallet_id, amount, user_id, key_id, source, model = row[:7]
    return Claimed(id_, wallet_id, amount, user_id, key_id, source, model, was_open=was_open)


def _charge(trips: Trips, req: SettleRequest, claimed: Claimed) -> Script[Charge]:
    """Debit a claimed reservation's wallet (capped at its hard limit), write the balanced charge and
    count usage."""
    held = claimed.amount if claimed.was_open else 0
    charged = req.cost
    rows = yield TAKE(cost=req.cost, held=held, wallet_id=claimed.wallet_id)
    if not rows:
        # The real cost overran the estimate by more than the wallet has left: charge what it has.
        ((balance, reserved, hard_limit),) = yield WALLET_LEFT[trips.dialect](wallet_id=claimed.wallet_id)
        charged = max(0, min(req.cost, balance - reserved + held - hard_limit))
        rows = yield TAKE_ALL(cost=charged, held=held, wallet_id=claimed.wallet_id)
        yield SET_CHARGED(charged=charged, id=claimed.id)
    balance, owner_id = rows[0]
    # A second charge for this request id fails here on the unique index: the caller replays the first.
    yield INSERT_TRANSACTION(
        tx_id=req.tx_id, type=req.kind, amount=charged, wallet_id=claimed.wallet_id, user_id=claimed.user_id,
        key_id=claimed.key_id, request_id=req.request_id, model=req.model or claimed.model,
        provider=req.provider, prompt_tokens=req.prompt_tokens, completion_tokens=req.completion_tokens,
        memo=f"shortfall {req.cost - charged}" if charged != req.cost else None, now=req.now,
    )  # fmt: skip
    if charged:
        yield INSERT_CHARGE_ENTRIES(
            tx_id=req.tx_id, wallet_id=claimed.wallet_id, debit=-charged, balance=balance, amount=charged,
            now=req.now,
        )  # fmt: skip
    if claimed.key_id is not None:
        yield KEY_SPENT(charged=charged, held=held, key_id=claimed.key_id)
    tokens = req.prompt_tokens + req.completion_tokens
    if claimed.user_id is not None and tokens:
        yield USER_TOKENS(tokens=tokens, user_id=claimed.user_id)
    if claimed.source == "team" and charged:
        yield TEAM_USED(charged=charged, team_id=owner_id)
    return Charge(req.request_id, claimed.wallet_id, req.cost, charged, req.tx_id)


@dataclass(frozen=True, slots=True)
class Released:
    wallet_id: int
    amount: int
    source: str
    expires_at: object  # as the driver returned it; ``Trips.time`` reads it
    user_id: int | None
    key_id: int | None
    charged: int | None


def release(request_id: str, now: datetime) -> Script[Released | None]:
    """Close the open reservation as released and drop its holds; None when none was open."""
    rows = yield RELEASE(now=now, request_id=request_id)
    if not rows:
        return None
    released = Released(*rows[0])
    yield UNHOLD_WALLET(amount=released.amount, wallet_id=released.wallet_id)
    if released.key_id is not None:
        yield UNHOLD_KEY(amount=released.amount, key_id=released.key_id)
    return released
