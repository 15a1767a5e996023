"""Response bodies of the admin and self-service APIs, and their construction from the ledger's records.

Money goes out twice: as a decimal string of credits (``balance``) and as exact integer micro-credits
(``balance_micros``) where a client may need to compute with it. The shapes are pinned by
``sdk/openapi/admin.json`` (``python sdk/generate.py --admin-from-source`` refreshes the snapshot).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from alfred.ledger import (
    ApprovalInfo,
    AuditEntry,
    AuditVerdict,
    KeyInfo,
    LedgerReport,
    Posting,
    TeamInfo,
    UserInfo,
    WalletInfo,
)
from alfred.ledger.money import format_credits


def _credits(micros: int | None) -> str | None:
    return None if micros is None else format_credits(micros)


class TeamOut(BaseModel):
    id: int
    name: str
    common_pool: str
    used_pool: str
    vacation_share_pct: int
    allow_pool: bool
    wallet_id: int | None

    @classmethod
    def of(cls, team: TeamInfo) -> TeamOut:
        return cls(
            id=team.id, name=team.name, common_pool=format_credits(team.common_pool),
            used_pool=format_credits(team.used_pool), vacation_share_pct=team.vacation_share_pct,
            allow_pool=team.allow_pool, wallet_id=team.wallet_id,
        )  # fmt: skip


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    is_admin: bool
    status: str
    personal_quota: str
    used_tokens: int
    team_id: int | None
    team_role: str
    priority: bool
    wallet_id: int | None

    @classmethod
    def of(cls, user: UserInfo) -> UserOut:
        return cls(
            id=user.id, email=user.email, name=user.name, is_admin=user.is_admin, status=user.status,
            personal_quota=format_credits(user.personal_quota), used_tokens=user.used_tokens,
            team_id=user.team_id, team_role=user.team_role, priority=user.priority, wallet_id=user.wallet_id,
        )  # fmt: skip


class KeyOut(BaseModel):
    id: int
    user_id: int
    name: str
    prefix: str
    is_active: bool
    expires_at: datetime | None
    revoked_at: datetime | None
    allowed_models: list[str] | None
    budget: str | None
    spent: str
    rpm_limit: int | None
    tpm_limit: int | None
    priority: bool
    created_at: datetime

    @classmethod
    def fields_of(cls, key: KeyInfo) -> dict[str, Any]:
        return {
            "id": key.id, "user_id": key.user_id, "name": key.name, "prefix": key.prefix,
            "is_active": key.is_active, "expires_at": key.expires_at, "revoked_at": key.revoked_at,
            "allowed_models": list(key.allowed_models) if key.allowed_models is not None else None,
            "budget": _credits(key.budget), "spent": format_credits(key.spent), "rpm_limit": key.rpm_limit,
            "tpm_limit": key.tpm_limit, "priority": key.priority, "created_at": key.created_at,
        }  # fmt: skip

    @classmethod
    def of(cls, key: KeyInfo) -> KeyOut:
        return cls(**cls.fields_of(key))


class CreatedKeyOut(KeyOut):
    key: str = Field(description="the key itself: shown this once, stored nowhere")


class WalletOut(BaseModel):
    id: int
    owner_type: str
    owner_id: int
    balance: str
    reserved: str
    spendable: str
    hard_limit: str
    soft_limit: str | None
    status: str
    balance_micros: int
    reserved_micros: int

    @classmethod
    def of(cls, wallet: WalletInfo) -> WalletOut:
        return cls(
            id=wallet.id, owner_type=wallet.owner_type, owner_id=wallet.owner_id,
            balance=format_credits(wallet.balance), reserved=format_credits(wallet.reserved),
            spendable=format_credits(wallet.spendable), hard_limit=format_credits(wallet.hard_limit),
            soft_limit=_credits(wallet.soft_limit), status=wallet.status, balance_micros=wallet.balance,
            reserved_micros=wallet.reserved,
        )  # fmt: skip


class PostingOut(BaseModel):
    transaction_id: str
    type: str
    amount: str
    amount_micros: int
    replayed: bool
    balances: dict[str, str]

    @classmethod
    def of(cls, posting: Posting) -> PostingOut:
        return cls(
            transaction_id=str(posting.transaction_id), type=posting.type, amount=format_credits(posting.amount),
            amount_micros=posting.amount, replayed=posting.replayed,
            balances={str(w): format_credits(b) for w, b in posting.balances.items()},
        )  # fmt: skip


class TransactionOut(BaseModel):
    id: str
    type: str
    amount: str
    amount_micros: int
    wallet_id: int | None
    user_id: int | None
    key_id: int | None
    request_id: str | None
    model: str | None
    provider: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    memo: str | None
    created_at: datetime


class UsageOut(BaseModel):
    key: str | None
    requests: int
    cache_hits: int
    prompt_tokens: int
    completion_tokens: int
    cost: str
    cost_micros: int


class AuditOut(BaseModel):
    seq: int
    event_type: str
    action: str
    user_id: int | None
    details: dict[str, Any]
    ip_address: str | None
    previous_hash: str
    hash: str
    created_at: datetime

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditOut:
        return cls(
            seq=entry.seq, event_type=entry.event_type, action=entry.action, user_id=entry.user_id,
            details=entry.details, ip_address=entry.ip_address, previous_hash=entry.previous_hash,
            hash=entry.hash, created_at=entry.created_at,
        )  # fmt: skip


class VerdictOut(BaseModel):
    ok: bool
    rows_checked: int
    head_seq: int
    head_hash: str
    problem: str | None
    seq: int | None
    message: str

    @classmethod
    def of(cls, verdict: AuditVerdict) -> VerdictOut:
        return cls(
            ok=verdict.ok, rows_checked=verdict.rows_checked, head_seq=verdict.head_seq,
            head_hash=verdict.head_hash, problem=verdict.problem, seq=verdict.seq, message=verdict.message,
        )  # fmt: skip


class ProblemOut(BaseModel):
    kind: str
    subject: str
    expected: int
    actual: int


class CheckOut(BaseModel):
    healthy: bool
    drift: int
    summary: str
    wallets: int
    transactions: int
    open_reservations: int
    problems: list[ProblemOut]

    @classmethod
    def of(cls, report: LedgerReport) -> CheckOut:
        problems = [ProblemOut(kind=p.kind, subject=p.subject, expected=p.expected, actual=p.actual)
                    for p in report.problems]  # fmt: skip
        return cls(
            healthy=report.healthy, drift=report.drift, summary=report.summary(), wallets=report.wallets,
            transactions=report.transactions, open_reservations=report.open_reservations, problems=problems,
        )  # fmt: skip


class ReconcileOut(BaseModel):
    expired: int


class VacationOut(BaseModel):
    user_id: int
    on: bool
    share: str
    share_micros: int


class ApprovalOut(BaseModel):
    id: int
    requester_id: int
    team_id: int
    amount: str
    reason: str | None
    state: str
    decided_by: int | None
    decided_at: datetime | None
    transaction_id: str | None
    created_at: datetime

    @classmethod
    def of(cls, approval: ApprovalInfo) -> ApprovalOut:
        tx = approval.transaction_id
        return cls(
            id=approval.id, requester_id=approval.requester_id, team_id=approval.team_id,
            amount=format_credits(approval.amount), reason=approval.reason, state=approval.state,
            decided_by=approval.decided_by, decided_at=approval.decided_at,
            transaction_id=str(tx) if tx is not None else None, created_at=approval.created_at,
        )  # fmt: skip


class MeOut(BaseModel):
    method: str
    is_admin: bool
    team_role: str
    user: UserOut | None
    team: TeamOut | None
    key: KeyOut | None
    wallets: list[WalletOut]
    limits: dict[str, Any]
    usage: dict[str, Any]
