"""Self-service with one's own key: who am I, what may I spend, what did I spend (``/v1/me``); ask the
team for credits, give a teammate credits, go on vacation and come back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request

from alfred.api.admin.access import caller, deps_of, member, valid_id
from alfred.api.admin.bodies import ApprovalIn, PeerTransferIn, VacationIn, micros
from alfred.api.admin.deps import Principal
from alfred.api.admin.reports import Reports
from alfred.api.admin.views import (
    ApprovalOut,
    KeyOut,
    MeOut,
    PostingOut,
    TeamOut,
    UserOut,
    VacationOut,
    WalletOut,
)
from alfred.errors import NotFoundError, PermissionDeniedError
from alfred.ledger import KeyInfo, Ledger, UserInfo, WalletInfo
from alfred.ledger.money import format_credits

router = APIRouter(prefix="/v1/me", tags=["me"])
USAGE_WINDOW = timedelta(days=30)


@router.get("")
async def me(request: Request, principal: Principal = Depends(caller)) -> MeOut:
    """Who this credential is, what it may spend and what it spent in the last 30 days."""
    ledger = deps_of(request).ledger
    user = principal.user
    key_id = principal.key_id
    key = await ledger.keys.get(key_id) if key_id is not None and valid_id(key_id) else None
    personal = pool = team = None
    if user is not None:
        personal = await ledger.accounts.find("user", user.id)
        if user.team_id is not None:
            team = await ledger.directory.get_team(user.team_id)
            pool = await ledger.accounts.find("team", user.team_id)
    wallets = [w for w in (personal, pool) if w is not None]
    return MeOut(
        method=principal.method,
        is_admin=principal.role != "user",
        team_role=user.team_role if user is not None else "none",
        user=UserOut.of(user) if user is not None else None,
        team=TeamOut.of(team) if team is not None else None,
        key=KeyOut.of(key) if key is not None else None,
        wallets=[WalletOut.of(w) for w in wallets],
        limits=_limits(principal, key, personal),
        usage=await _usage(ledger, principal),
    )


def _limits(principal: Principal, key: KeyInfo | None, personal: WalletInfo | None) -> dict[str, Any]:
    identity = principal.identity
    models = sorted(identity.allowed_models) if identity.allowed_models is not None else None
    limits: dict[str, Any] = {
        "rpm_limit": identity.rpm_limit,
        "tpm_limit": identity.tpm_limit,
        "allowed_models": models,
        "priority": identity.priority,
    }
    if key is not None:
        limits["key_budget"] = format_credits(key.budget) if key.budget is not None else None
        limits["key_spent"] = format_credits(key.spent)
        limits["key_expires_at"] = key.expires_at.isoformat() if key.expires_at is not None else None
    if personal is not None:
        limits["spendable"] = format_credits(personal.spendable)
        limits["hard_limit"] = format_credits(personal.hard_limit)
        limits["soft_limit"] = (
            format_credits(personal.soft_limit) if personal.soft_limit is not None else None
        )
    return limits


async def _usage(ledger: Ledger, principal: Principal) -> dict[str, Any]:
    since = ledger.clock() - USAGE_WINDOW
    totals = {"requests": 0, "cache_hits": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_micros": 0}
    if principal.user is not None:
        rows = await Reports(ledger).usage("user", since=since, user_id=principal.user.id)
        for row in rows:
            totals["requests"] += row.requests
            totals["cache_hits"] += row.cache_hits
            totals["prompt_tokens"] += row.prompt_tokens
            totals["completion_tokens"] += row.completion_tokens
            totals["cost_micros"] += row.cost
    return {"since": since.isoformat(), **totals, "cost": format_credits(totals["cost_micros"])}


@router.post("/approvals", status_code=201)
async def ask(request: Request, body: ApprovalIn, principal: Principal = Depends(member)) -> ApprovalOut:
    """Ask your team for more credits; a team admin approves or rejects it."""
    assert principal.user is not None
    approval = await deps_of(request).ledger.approvals.request(
        principal.user.id, micros(body.amount, "amount"), reason=body.reason, ip_address=principal.ip_address
    )
    return ApprovalOut.of(approval)


@router.post("/transfers")
async def give(request: Request, body: PeerTransferIn, principal: Principal = Depends(member)) -> PostingOut:
    """Give a teammate credits from your personal wallet (positive amounts, never to yourself)."""
    assert principal.user is not None
    ledger = deps_of(request).ledger
    if body.to_user_id != principal.user.id:
        # One answer for "no such user" and "not your teammate", so ids cannot be probed across teams.
        receiver = await _user_or_none(ledger, body.to_user_id)
        if receiver is None or receiver.team_id is None or receiver.team_id != principal.user.team_id:
            raise PermissionDeniedError(
                "credits can only be given to a member of your own team", param="to_user_id"
            )
    posting = await ledger.approvals.transfer(
        principal.user.id,
        body.to_user_id,
        micros(body.amount, "amount"),
        memo=body.memo,
        ip_address=principal.ip_address,
    )
    return PostingOut.of(posting)


async def _user_or_none(ledger: Ledger, user_id: int) -> UserInfo | None:
    if not valid_id(user_id):
        return None
    try:
        return await ledger.directory.get_user(user_id)
    except NotFoundError:
        return None


@router.post("/vacation")
async def vacation(request: Request, body: VacationIn, principal: Principal = Depends(member)) -> VacationOut:
    """Going on vacation lends part of your unused quota to your team until you come back."""
    assert principal.user is not None
    user_id = principal.user.id
    share = await deps_of(request).ledger.governance.set_vacation(
        user_id, body.on, actor_id=user_id, ip_address=principal.ip_address
    )
    return VacationOut(user_id=user_id, on=body.on, share=format_credits(share), share_micros=share)
