"""The statements of credit leases (``alfred.ledger.leases``), as ``trips`` scripts.

A lease is an open reservation row (request id ``lease:<process>:<wallet>:<n>``) whose amount the
wallet's ``reserved`` includes, like any hold: taking, growing, shrinking, renewing and returning it
are the same guarded statements as a per-request hold's, so the ledger check (reserved equals the sum
of open reservations) and reconciliation (an expired lease frees what it still holds) need nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from alfred.ledger import hotpath
from alfred.ledger.charging import Charge
from alfred.ledger.hotpath import SettleRequest
from alfred.ledger.trips import Fallback, Query, Script, Trips

LEASE_SOURCE = "lease"

# A lease is taken only from an active user's active personal wallet that stays at or above its soft
# limit with the lease taken: requests served from it then never cross the soft limit (no warning, no
# audit row is due), and everything near a limit goes through the exact per-request path.
GROW = Query("""
    UPDATE wallets SET reserved = reserved + :amount
    WHERE owner_type = 'user' AND owner_id = :user_id
      AND owner_id IN (SELECT id FROM users WHERE id = :user_id AND status = 'active')
      AND status = 'active' AND balance - reserved - :amount >= hard_limit
      AND (soft_limit IS NULL OR balance - reserved - :amount >= soft_limit)
    RETURNING id
""")
INSERT_LEASE = Query("""
    INSERT INTO reservations
        (request_id, wallet_id, user_id, key_id, source, amount, state, model, created_at, expires_at)
    VALUES (:request_id, :wallet_id, NULL, NULL, :source, :amount, 'open', NULL, :now, :expires_at)
""")
EXTEND = Query("""
    UPDATE reservations SET amount = amount + :amount, expires_at = :expires_at
    WHERE request_id = :request_id AND state = 'open'
    RETURNING id
""")
# Renewed only while its wallet may still lend: a wallet frozen (or its user suspended, on vacation)
# since the lease was taken gets it back at the next renewal, as ``GROW`` would not have given it.
RENEW = Query("""
    UPDATE reservations SET expires_at = :expires_at
    WHERE request_id = :request_id AND state = 'open'
      AND wallet_id IN (
          SELECT wallets.id FROM wallets JOIN users ON users.id = wallets.owner_id
          WHERE wallets.id = reservations.wallet_id AND wallets.owner_type = 'user'
            AND wallets.status = 'active' AND users.status = 'active'
      )
    RETURNING id
""")
SHRINK = Query("""
    UPDATE reservations SET amount = amount - :amount
    WHERE request_id = :request_id AND state = 'open' AND amount >= :amount
    RETURNING wallet_id
""")
RETURN = Query("""
    UPDATE reservations SET state = 'released', closed_at = :now WHERE request_id = :request_id AND state = 'open'
    RETURNING wallet_id, amount
""")
UNHOLD = Query("UPDATE wallets SET reserved = reserved - :amount WHERE id = :wallet_id")
KEY_SPENT = Query("UPDATE api_keys SET spent = spent + :charged WHERE id = :key_id")

# PostgreSQL: the common settle (the wallet pays the whole cost) in one statement, one round trip
# instead of seven, locking rows in the script's order (the lease row, then the wallet). Returns
# whether the lease was still open and the wallet's balance after the debit; the balance is NULL
# when the wallet could not pay it all (nothing was debited or written, though a live lease already
# shrank: the script then caps the charge with ``part`` already taken). Every parameter is cast at
# every use (see ``hotpath_pg``).
SETTLE_PG = Query("""
    WITH l AS (
        UPDATE reservations SET amount = amount - CAST(:part AS BIGINT)
        WHERE request_id = CAST(:lease_id AS VARCHAR) AND state = 'open' AND amount >= CAST(:part AS BIGINT)
        RETURNING id
    ), h AS (
        SELECT CASE WHEN EXISTS (SELECT 1 FROM l) THEN CAST(:part AS BIGINT) ELSE 0 END AS held
    ), w AS (
        UPDATE wallets SET balance = balance - CAST(:cost AS BIGINT), reserved = reserved - h.held
        FROM h
        WHERE wallets.id = CAST(:wallet_id AS INTEGER)
          AND wallets.balance - wallets.reserved + h.held - CAST(:cost AS BIGINT) >= wallets.hard_limit
        RETURNING wallets.balance
    ), t AS (
        INSERT INTO ledger_transactions
            (id, type, amount, wallet_id, user_id, key_id, request_id, model, provider, prompt_tokens,
             completion_tokens, created_at)
        SELECT CAST(:tx_id AS UUID), CAST(:type AS VARCHAR), CAST(:cost AS BIGINT), CAST(:wallet_id AS INTEGER),
               CAST(:user_id AS INTEGER), CAST(:key_id AS INTEGER), CAST(:request_id AS VARCHAR),
               CAST(:model AS VARCHAR), CAST(:provider AS VARCHAR), CAST(:prompt_tokens AS INTEGER),
               CAST(:completion_tokens AS INTEGER), CAST(:now AS TIMESTAMPTZ)
        FROM w
        RETURNING id
    ), e AS (
        INSERT INTO ledger_entries (transaction_id, wallet_id, system_account, amount, balance_after, created_at)
        SELECT t.id, v.wallet_id, v.account, v.amount, v.balance_after, CAST(:now AS TIMESTAMPTZ)
        FROM t, w, LATERAL (VALUES
            (CAST(:wallet_id AS INTEGER), CAST(NULL AS VARCHAR), -CAST(:cost AS BIGINT), w.balance),
            (CAST(NULL AS INTEGER), 'revenue', CAST(:cost AS BIGINT), CAST(NULL AS BIGINT))
        ) AS v (wallet_id, account, amount, balance_after)
        WHERE CAST(:cost AS BIGINT) <> 0
    ), k AS (
        UPDATE api_keys SET spent = api_keys.spent + CAST(:cost AS BIGINT)
        FROM w
        WHERE api_keys.id = CAST(:key_id AS INTEGER) AND CAST(:cost AS BIGINT) <> 0
    ), u AS (
        UPDATE users SET used_tokens = users.used_tokens + CAST(:tokens AS BIGINT)
        FROM w
        WHERE users.id = CAST(:user_id AS INTEGER) AND CAST(:tokens AS BIGINT) <> 0
    )
    SELECT EXISTS (SELECT 1 FROM l), (SELECT balance FROM w)
""")
KEY_BUDGET = Query("SELECT budget FROM api_keys WHERE id = :key_id")


class NoCredit(Exception):
    """Raised by ``take`` to roll back: the wallet cannot cover another block."""


def take(
    user_id: int, amount: int, lease_id: str | None, make_id: str, now: datetime, expires_at: datetime
) -> Script[tuple[int, str]]:
    """Hold ``amount`` more on the user's wallet for a lease: grow ``lease_id``, or insert a new lease
    row named ``make_id + wallet id`` when there is none. Raises ``Fallback`` when the lease has ended
    (reconciled), ``NoCredit`` when the wallet cannot cover the amount; either way nothing changed.

    Growing locks the lease row before the wallet, as settling and reconciling do (PostgreSQL would
    otherwise find a deadlock between a grow and a settle of the same lease)."""
    if lease_id is not None and not (yield EXTEND(amount=amount, expires_at=expires_at, request_id=lease_id)):
        raise Fallback
    rows = yield GROW(amount=amount, user_id=user_id)
    if not rows:
        raise NoCredit
    wallet_id = int(rows[0][0])
    if lease_id is not None:
        return wallet_id, lease_id
    request_id = f"{make_id}{wallet_id}"
    yield INSERT_LEASE(
        request_id=request_id, wallet_id=wallet_id, source=LEASE_SOURCE, amount=amount, now=now,
        expires_at=expires_at,
    )  # fmt: skip
    return wallet_id, request_id


def shrink(lease_id: str, wallet_id: int, amount: int) -> Script[bool]:
    """Give ``amount`` of a lease back to its wallet; False when the lease had already ended."""
    if not (yield SHRINK(amount=amount, request_id=lease_id)):
        return False
    yield UNHOLD(amount=amount, wallet_id=wallet_id)
    return True


def renew(lease_id: str, expires_at: datetime) -> Script[bool]:
    return bool((yield RENEW(expires_at=expires_at, request_id=lease_id)))


def give_back(lease_id: str, now: datetime) -> Script[int]:
    """Close a lease and free what it still holds; returns that amount (0 if it had already ended)."""
    rows = yield RETURN(now=now, request_id=lease_id)
    if not rows:
        return 0
    wallet_id, amount = rows[0]
    if amount:
        yield UNHOLD(amount=amount, wallet_id=wallet_id)
    return int(amount)


@dataclass(frozen=True, slots=True)
class LeasedSettle:
    """A request held on a lease, settling: ``part`` of the lease pays for it (the rest comes back)."""

    request: SettleRequest
    lease_id: str
    wallet_id: int
    user_id: int
    key_id: int | None
    part: int  # how much of the lease the charge uses: min(the cost, its hold + extra taken from the lease)


def settle(trips: Trips, s: LeasedSettle) -> Script[tuple[Charge, bool]]:
    """One transaction: shrink the lease by ``part``, debit the wallet (balance and reserved), write the
    charge (a second charge of this request id fails on the transactions' unique index and rolls
    everything back) and count usage. No reservation row is written for the request: its id was made
    by the gateway, so no client can have sent it before, and a client that sends it afterwards finds
    the charge (``hotpath.CHARGED``). Returns the charge and whether
    the lease was still open (if not, it expired and was reconciled: the charge is taken from the
    balance alone, capped at the hard limit, as a settle after expiry is on the per-request path)."""
    req = s.request
    charged = req.cost
    if trips.dialect == "postgresql":
        ((live, balance),) = yield SETTLE_PG(
            part=s.part, lease_id=s.lease_id, cost=req.cost, wallet_id=s.wallet_id, request_id=req.request_id,
            user_id=s.user_id, key_id=s.key_id, model=req.model, tx_id=req.tx_id, now=req.now,
            type=req.kind, provider=req.provider, prompt_tokens=req.prompt_tokens,
            completion_tokens=req.completion_tokens, tokens=req.prompt_tokens + req.completion_tokens,
        )  # fmt: skip
        if balance is not None:
            return Charge(req.request_id, s.wallet_id, req.cost, req.cost, req.tx_id), bool(live)
        rows = []  # the wallet cannot pay it all: cap the charge below (the lease already shrank)
    else:
        live = bool((yield SHRINK(amount=s.part, request_id=s.lease_id)))
        rows = yield hotpath.TAKE(cost=req.cost, held=s.part if live else 0, wallet_id=s.wallet_id)
    part = s.part if live else 0
    if not rows:
        ((balance, reserved, hard_limit),) = yield hotpath.WALLET_LEFT[trips.dialect](wallet_id=s.wallet_id)
        charged = max(0, min(req.cost, balance - reserved + part - hard_limit))
        rows = yield hotpath.TAKE_ALL(cost=charged, held=part, wallet_id=s.wallet_id)
    balance = rows[0][0]
    yield hotpath.INSERT_TRANSACTION(
        tx_id=req.tx_id, type=req.kind, amount=charged, wallet_id=s.wallet_id, user_id=s.user_id,
        key_id=s.key_id, request_id=req.request_id, model=req.model, provider=req.provider,
        prompt_tokens=req.prompt_tokens, completion_tokens=req.completion_tokens,
        memo=f"shortfall {req.cost - charged}" if charged != req.cost else None, now=req.now,
    )  # fmt: skip
    if charged:
        yield hotpath.INSERT_CHARGE_ENTRIES(
            tx_id=req.tx_id, wallet_id=s.wallet_id, debit=-charged, balance=balance, amount=charged,
            now=req.now,
        )  # fmt: skip
    if s.key_id is not None and charged:
        yield KEY_SPENT(charged=charged, key_id=s.key_id)
    tokens = req.prompt_tokens + req.completion_tokens
    if tokens:
        yield hotpath.USER_TOKENS(tokens=tokens, user_id=s.user_id)
    return Charge(req.request_id, s.wallet_id, req.cost, charged, req.tx_id), live


def key_budget(key_id: int) -> Script[tuple[bool, int | None]]:
    """Whether the key exists, and its budget."""
    rows = yield KEY_BUDGET(key_id=key_id)
    return (bool(rows), rows[0][0] if rows else None)
