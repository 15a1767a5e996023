"""The governance tables (SQLAlchemy 2 typed declarative); the Alembic revisions create them.

Amounts are integer micro-credits (``alfred.ledger.money``). Every credit movement is a
``LedgerTransaction`` with entries that sum to zero; an entry names either a wallet or one of the system
accounts (``external`` for money entering or leaving, ``revenue`` for usage charged), and the system
accounts keep no running balance so that no single row is written by every request.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")

GENESIS_HASH = "0" * 64

USER_STATUSES = ("active", "suspended", "vacation")
WALLET_STATUSES = ("active", "frozen", "closed")
TRANSACTION_TYPES = ("topup", "charge", "refund", "transfer", "cache_hit")
RESERVATION_STATES = ("open", "settled", "released", "expired")
# ``lease``: a block of credit one process holds and reserves requests from in memory (ledger.leases).
RESERVATION_SOURCES = ("personal", "team", "vacation", "direct", "lease")
SYSTEM_ACCOUNTS = ("external", "revenue")
APPROVAL_STATES = ("pending", "approved", "rejected")


def utc_now() -> datetime:
    return datetime.now(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps are aware UTC in Python on every backend (SQLite hands back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the ledger stores aware UTC timestamps only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so migrations name constraints the same everywhere."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON()}


class Team(Base):
    """A team: its common pool (the team wallet) and how much vacationing members lend to it."""

    __tablename__ = "teams"
    __table_args__ = (CheckConstraint("vacation_share_pct BETWEEN 0 AND 100", name="vacation_share_pct"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    common_pool: Mapped[int] = mapped_column(BigInteger, default=0)  # micro-credits granted to the pool
    used_pool: Mapped[int] = mapped_column(BigInteger, default=0)  # micro-credits charged to the pool
    vacation_share_pct: Mapped[int] = mapped_column(Integer, default=10)
    allow_pool: Mapped[bool] = mapped_column(Boolean, default=False)  # any member may fall back to the pool
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class User(Base):
    """A person (or service) who calls the gateway; ``team_role`` admin may approve teammates' requests."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_in("status", USER_STATUSES), name="status"),
        CheckConstraint(_in("team_role", ("member", "admin")), name="team_role"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-cased
    name: Mapped[str] = mapped_column(String(200))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="active")
    personal_quota: Mapped[int] = mapped_column(BigInteger, default=0)  # micro-credits granted
    used_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    team_role: Mapped[str] = mapped_column(String(16), default="member")
    priority: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class Wallet(Base):
    """Credits a user or team can spend: spendable = balance - reserved - hard_limit (the floor).

    ``lend_floor`` is set only while the owner is on vacation: teammates may reserve from this wallet
    down to it, which is how the vacation share is lent without moving money up front.
    """

    __tablename__ = "wallets"
    __table_args__ = (
        UniqueConstraint("owner_type", "owner_id", name="uq_wallets_owner"),
        CheckConstraint(_in("owner_type", ("user", "team")), name="owner_type"),
        CheckConstraint(_in("status", WALLET_STATUSES), name="status"),
        CheckConstraint("reserved >= 0", name="reserved_non_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_type: Mapped[str] = mapped_column(String(8))
    owner_id: Mapped[int] = mapped_column(Integer)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved: Mapped[int] = mapped_column(BigInteger, default=0)
    hard_limit: Mapped[int] = mapped_column(BigInteger, default=0)  # the floor; negative allows credit
    soft_limit: Mapped[int | None] = mapped_column(BigInteger)  # warn once balance - reserved is below it
    lend_floor: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class LedgerTransaction(Base):
    """One business event (a top-up, a charge, a transfer…): its entries move the money and sum to 0."""

    __tablename__ = "ledger_transactions"
    __table_args__ = (
        CheckConstraint(_in("type", TRANSACTION_TYPES), name="type"),
        CheckConstraint("amount >= 0", name="amount_non_negative"),
        # A request is charged at most once, whatever retries happen.
        Index(
            "uq_ledger_transactions_charge_request",
            "request_id",
            unique=True,
            sqlite_where=text("type IN ('charge', 'cache_hit')"),
            postgresql_where=text("type IN ('charge', 'cache_hit')"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    type: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    wallet_id: Mapped[int | None] = mapped_column(ForeignKey("wallets.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    key_id: Mapped[int | None] = mapped_column(Integer)
    request_id: Mapped[str | None] = mapped_column(String(128))
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    model: Mapped[str | None] = mapped_column(String(200))
    provider: Mapped[str | None] = mapped_column(String(64))
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    memo: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)


class LedgerEntry(Base):
    """One side of a transaction: a signed amount against a wallet or a system account."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("(wallet_id IS NULL) <> (system_account IS NULL)", name="one_account"),
        CheckConstraint(
            f"system_account IS NULL OR {_in('system_account', SYSTEM_ACCOUNTS)}", name="system_account"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    transaction_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    wallet_id: Mapped[int | None] = mapped_column(ForeignKey("wallets.id"), index=True)
    system_account: Mapped[str | None] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int | None] = mapped_column(BigInteger)  # wallets only
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class Reservation(Base):
    """Credits held for one in-flight request until it is settled, released or expires."""

    __tablename__ = "reservations"
    __table_args__ = (
        CheckConstraint(_in("state", RESERVATION_STATES), name="state"),
        CheckConstraint(_in("source", RESERVATION_SOURCES), name="source"),
        CheckConstraint("amount >= 0", name="amount_non_negative"),
        Index("ix_reservations_state_expires_at", "state", "expires_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(128), unique=True)
    wallet_id: Mapped[int] = mapped_column(ForeignKey("wallets.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(Integer)
    key_id: Mapped[int | None] = mapped_column(Integer, index=True)
    source: Mapped[str] = mapped_column(String(16), default="direct")  # one of RESERVATION_SOURCES
    amount: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16), default="open")
    model: Mapped[str | None] = mapped_column(String(200))
    charged: Mapped[int | None] = mapped_column(BigInteger)
    transaction_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    expires_at: Mapped[datetime] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()


class ApiKey(Base):
    """An API key, stored only as its HMAC-SHA256 under the server secret, plus a short visible prefix."""

    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint("reserved >= 0", name="reserved_non_negative"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(32))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    expires_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    allowed_models: Mapped[list[str] | None] = mapped_column(JSON)
    budget: Mapped[int | None] = mapped_column(BigInteger)  # micro-credits this key may spend in total
    spent: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved: Mapped[int] = mapped_column(BigInteger, default=0)
    rpm_limit: Mapped[int | None] = mapped_column(Integer)
    tpm_limit: Mapped[int | None] = mapped_column(Integer)
    priority: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class AuditRow(Base):
    """One hash-chained audit event: ``hash = sha256(previous_hash + canonical JSON of the content)``."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_type: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)  # no FK: audit outlives its subjects
    action: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    previous_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column()


class AuditHead(Base):
    """The chain's single head row: appends lock it, so the chain never forks; verify checks the tail."""

    __tablename__ = "audit_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class ApprovalRequest(Base):
    """A member's request for more credits from the team pool, decided by a team admin (never oneself)."""

    __tablename__ = "approval_requests"
    __table_args__ = (
        CheckConstraint(_in("state", APPROVAL_STATES), name="state"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("decided_by IS NULL OR decided_by <> requester_id", name="no_self_approval"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(String(1000))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column()
    transaction_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
