"""Approval requests, as a team admin sees them: pending ones, approve, reject (``/admin/approvals``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from alfred.api.admin.access import Scope, admin_scope, valid_id
from alfred.api.admin.params import Id
from alfred.api.admin.reports import Reports
from alfred.api.admin.views import ApprovalOut
from alfred.errors import NotFoundError, PermissionDeniedError

router = APIRouter(prefix="/admin", tags=["approvals"])


@router.get("/approvals")
async def pending(team_id: Id | None = None, scope: Scope = Depends(admin_scope)) -> list[ApprovalOut]:
    if scope.limited_to is not None:
        if team_id is not None:
            await scope.team(team_id)
        team_id = scope.limited_to
    if team_id is None:
        found = await Reports(scope.ledger).pending_approvals()
    elif not valid_id(team_id):
        found = []
    else:
        found = await scope.ledger.approvals.pending(team_id)
    return [ApprovalOut.of(a) for a in found]


async def _decide(scope: Scope, approval_id: int, approve: bool) -> ApprovalOut:
    missing = NotFoundError(f"approval request {approval_id} does not exist", param="approval_id")
    if not valid_id(approval_id):
        raise missing
    try:
        request = await scope.ledger.approvals.get(approval_id)
    except NotFoundError:
        raise missing from None
    if not scope.owns_team(request.team_id):
        raise missing
    p = scope.principal
    if p.user is None:
        raise PermissionDeniedError(
            "a decision is recorded against a person: decide with an admin user's key, not the master key"
        )
    decided = await scope.ledger.approvals.decide(
        approval_id, p.user.id, approve=approve, ip_address=p.ip_address
    )
    return ApprovalOut.of(decided)


@router.post("/approvals/{approval_id}/approve")
async def approve(approval_id: Id, scope: Scope = Depends(admin_scope)) -> ApprovalOut:
    """Moves the credits from the team pool to the requester in the same transaction."""
    return await _decide(scope, approval_id, approve=True)


@router.post("/approvals/{approval_id}/reject")
async def reject(approval_id: Id, scope: Scope = Depends(admin_scope)) -> ApprovalOut:
    return await _decide(scope, approval_id, approve=False)
