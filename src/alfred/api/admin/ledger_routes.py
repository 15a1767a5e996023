"""The ledger's records: transactions, usage, the audit log and its verification, the self-check."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BeforeValidator

from alfred.api.admin.access import Scope, admin_scope, global_scope, valid_id
from alfred.api.admin.bodies import integer_text
from alfred.api.admin.params import Id, Time, aware, text
from alfred.api.admin.reports import GroupBy, Reports
from alfred.api.admin.views import AuditOut, CheckOut, ReconcileOut, TransactionOut, UsageOut, VerdictOut
from alfred.errors import PermissionDeniedError
from alfred.ledger.money import format_credits

router = APIRouter(prefix="/admin")
Limit = Annotated[int, Query(ge=1, le=1000), BeforeValidator(integer_text)]
MAX_SEQ = 2**63 - 1


@router.get("/transactions", tags=["transactions"])
async def list_transactions(
    wallet_id: Id | None = None,
    user_id: Id | None = None,
    type: str | None = None,
    request_id: str | None = None,
    before: Annotated[Time | None, Query(description="page: the created_at of the last row seen")] = None,
    limit: Limit = 100,
    scope: Scope = Depends(admin_scope),
) -> list[TransactionOut]:
    """Filter by wallet, user, type or request id. A team admin must name one of their team's wallets or users."""
    if scope.limited_to is not None and wallet_id is None and user_id is None:
        raise PermissionDeniedError(
            "a team admin must name one of their team's wallets (wallet_id) or users (user_id)",
            param="wallet_id",
        )
    for value, check in ((wallet_id, scope.wallet), (user_id, scope.user)):
        if value is None:
            continue
        if scope.limited_to is not None:
            await check(value)
        elif not valid_id(value):
            return []
    rows = await Reports(scope.ledger).transactions(
        wallet_id=wallet_id,
        user_id=user_id,
        type=text(type, "type"),
        request_id=text(request_id, "request_id"),
        before=aware(before, "before"),
        limit=limit,
    )
    return [TransactionOut(amount=format_credits(r["amount_micros"]), **r) for r in rows]


@router.get("/usage", tags=["usage"])
async def usage(
    group_by: GroupBy = "user",
    since: Time | None = None,
    until: Time | None = None,
    team_id: Id | None = None,
    user_id: Id | None = None,
    scope: Scope = Depends(admin_scope),
) -> list[UsageOut]:
    """Charges and cache hits summed per group, biggest cost first. A team admin sees their team only."""
    if scope.limited_to is not None:
        if team_id is not None:
            await scope.team(team_id)
        team_id = scope.limited_to
        if user_id is not None:
            await scope.user(user_id)
    elif (team_id is not None and not valid_id(team_id)) or (user_id is not None and not valid_id(user_id)):
        return []
    rows = await Reports(scope.ledger).usage(
        group_by,
        since=aware(since, "since"),
        until=aware(until, "until"),
        team_id=team_id,
        user_id=user_id,
    )
    return [
        UsageOut(
            key=r.key,
            requests=r.requests,
            cache_hits=r.cache_hits,
            prompt_tokens=r.prompt_tokens,
            completion_tokens=r.completion_tokens,
            cost=format_credits(r.cost),
            cost_micros=r.cost,
        )
        for r in rows
    ]


@router.get("/audit", tags=["audit"])
async def list_audit(
    limit: Limit = 100,
    before_seq: Id | None = None,
    user_id: Id | None = None,
    event_type: str | None = None,
    scope: Scope = Depends(admin_scope),
) -> list[AuditOut]:
    """Newest first; page with ``before_seq``."""
    if (before_seq is not None and before_seq <= 1) or (user_id is not None and not valid_id(user_id)):
        return []
    if before_seq is not None and before_seq > MAX_SEQ:
        before_seq = None
    kind = text(event_type, "event_type")
    if scope.limited_to is not None:
        reports = Reports(scope.ledger)
        team = await reports.members(scope.limited_to)
        entries = await reports.audit_about(
            team, limit=limit, before_seq=before_seq, user_id=user_id, event_type=kind
        )
    else:
        entries = await scope.ledger.audit.recent(
            limit=limit, before_seq=before_seq, user_id=user_id, event_type=kind
        )
    return [AuditOut.of(e) for e in entries]


@router.get("/audit/verify", tags=["audit"])
async def verify(scope: Scope = Depends(global_scope)) -> VerdictOut:
    """Walks the chain; names the first row that was altered, inserted or deleted."""
    return VerdictOut.of(await scope.ledger.audit.verify())


@router.get("/ledger/check", tags=["ledger"])
async def check(scope: Scope = Depends(global_scope)) -> CheckOut:
    """On a healthy ledger: ``drift`` 0 and no problems."""
    return CheckOut.of(await scope.ledger.check())


@router.post("/ledger/reconcile", tags=["ledger"])
async def reconcile(scope: Scope = Depends(global_scope)) -> ReconcileOut:
    """Expire reservations past their time now (the gateways also do it every reconcile interval)."""
    return ReconcileOut(expired=len(await scope.ledger.wallets.reconcile_expired()))
