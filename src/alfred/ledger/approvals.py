"""Approval requests (a member asks for credits, a team admin grants them from the pool) and peer
transfers between teammates.

The seed project let amounts go negative, let users approve their own requests and send credits to
themselves; here amounts must be positive, the approver is never the requester (checked here and by a
database constraint), a transfer never targets its sender, both sides of every movement commit in one
transaction, and every step is audited.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from alfred.errors import InvalidRequestError, NotFoundError, PermissionDeniedError
from alfred.ledger.audit import AuditEvent, AuditLog
from alfred.ledger.entries import Details, Posting, move, positive_amount
from alfred.ledger.tables import ApprovalRequest, User, Wallet, utc_now
from alfred.state.db import Database

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class ApprovalInfo:
    """An approval request and, once decided, who decided and the transfer it made."""

    id: int
    requester_id: int
    team_id: int
    amount: int
    reason: str | None
    state: str
    decided_by: int | None
    decided_at: datetime | None
    transaction_id: uuid.UUID | None
    created_at: datetime


def _info(row: ApprovalRequest) -> ApprovalInfo:
    return ApprovalInfo(
        row.id, row.requester_id, row.team_id, row.amount, row.reason, row.state, row.decided_by,
        row.decided_at, row.transaction_id, row.created_at,
    )  # fmt: skip


async def _wallet_of(session: AsyncSession, owner_type: str, owner_id: int) -> int:
    wallet_id = (
        await session.execute(
            select(Wallet.id).where(Wallet.owner_type == owner_type, Wallet.owner_id == owner_id)
        )
    ).scalar()
    if wallet_id is None:
        raise NotFoundError(f"{owner_type} {owner_id} has no wallet")
    return int(wallet_id)


async def _user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"user {user_id} does not exist", param="user_id")
    return user


class Approvals:
    """Approval requests for pool credits, and peer transfers between teammates."""

    def __init__(self, db: Database, audit: AuditLog, *, clock: Clock = utc_now) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock

    async def request(
        self, requester_id: int, amount: int, *, reason: str | None = None, ip_address: str | None = None
    ) -> ApprovalInfo:
        """A member asks their team for ``amount`` more micro-credits."""
        positive_amount(amount)
        async with self._db.transaction() as session:
            user = await _user(session, requester_id)
            if user.team_id is None:
                raise InvalidRequestError("only a team member can ask the team for credits", code="no_team")
            approval_id = (
                await session.execute(
                    insert(ApprovalRequest)
                    .values(requester_id=requester_id, team_id=user.team_id, amount=amount, reason=reason,
                            state="pending", created_at=self._clock())
                    .returning(ApprovalRequest.id)
                )
            ).scalar_one()  # fmt: skip
            details = {"approval_id": approval_id, "team_id": user.team_id, "amount": amount}
            await self._audit.append(
                session,
                AuditEvent(
                    "approval.requested",
                    f"user {requester_id} asked for credits",
                    requester_id,
                    details,
                    ip_address,
                ),
            )
            row = await session.get(ApprovalRequest, approval_id)
            assert row is not None
            return _info(row)

    async def decide(
        self, approval_id: int, approver_id: int, *, approve: bool, ip_address: str | None = None
    ) -> ApprovalInfo:
        """A team admin (or a global admin) approves or rejects; approving moves the credits from the
        team pool to the requester in the same transaction. Nobody decides their own request."""
        now = self._clock()
        async with self._db.transaction() as session:
            request = await session.get(ApprovalRequest, approval_id)
            if request is None:
                raise NotFoundError(f"approval request {approval_id} does not exist", param="approval_id")
            if request.requester_id == approver_id:
                raise PermissionDeniedError(
                    "you cannot decide your own approval request", code="self_approval"
                )
            approver = await _user(session, approver_id)
            team_admin = approver.team_role == "admin" and approver.team_id == request.team_id
            if not (team_admin or approver.is_admin) or approver.status == "suspended":
                raise PermissionDeniedError("only an admin of the requester's team may decide this request")
            state = "approved" if approve else "rejected"
            # Claiming the pending row decides the race between two admins: one wins, one is told.
            claimed = (
                await session.execute(
                    update(ApprovalRequest)
                    .where(ApprovalRequest.id == approval_id, ApprovalRequest.state == "pending")
                    .values(state=state, decided_by=approver_id, decided_at=now)
                    .returning(ApprovalRequest.id),
                    execution_options={"synchronize_session": False},
                )
            ).scalar_one_or_none()
            if claimed is None:
                raise InvalidRequestError(
                    f"approval request {approval_id} was already decided", code="already_decided"
                )
            details: dict[str, object] = {
                "approval_id": approval_id,
                "amount": request.amount,
                "state": state,
            }
            if approve:
                posting = await move(
                    session, type="transfer", amount=request.amount,
                    source=await _wallet_of(session, "team", request.team_id),
                    target=await _wallet_of(session, "user", request.requester_id),
                    details=Details(user_id=approver_id, memo=f"approval {approval_id}"), now=now,
                )  # fmt: skip
                await session.execute(
                    update(ApprovalRequest)
                    .where(ApprovalRequest.id == approval_id)
                    .values(transaction_id=posting.transaction_id)
                )
                details["transaction_id"] = str(posting.transaction_id)
            await self._audit.append(
                session,
                AuditEvent(
                    f"approval.{state}",
                    f"{state} approval request {approval_id}",
                    approver_id,
                    details,
                    ip_address,
                ),
            )
            row = await session.get(ApprovalRequest, approval_id, populate_existing=True)
            assert row is not None
            return _info(row)

    async def get(self, approval_id: int) -> ApprovalInfo:
        async with self._db.session() as session:
            row = await session.get(ApprovalRequest, approval_id)
            if row is None:
                raise NotFoundError(f"approval request {approval_id} does not exist", param="approval_id")
            return _info(row)

    async def pending(self, team_id: int) -> list[ApprovalInfo]:
        async with self._db.replica() as session:
            rows = (
                await session.execute(
                    select(ApprovalRequest)
                    .where(ApprovalRequest.team_id == team_id, ApprovalRequest.state == "pending")
                    .order_by(ApprovalRequest.id)
                )
            ).scalars()
            return [_info(r) for r in rows]

    async def transfer(
        self,
        from_user_id: int,
        to_user_id: int,
        amount: int,
        *,
        memo: str | None = None,
        ip_address: str | None = None,
    ) -> Posting:
        """``from_user_id`` (the caller) gives a teammate credits from their personal wallet."""
        positive_amount(amount)
        if from_user_id == to_user_id:
            raise InvalidRequestError("you cannot transfer credits to yourself", code="self_transfer")
        async with self._db.transaction() as session:
            sender = await _user(session, from_user_id)
            receiver = await _user(session, to_user_id)
            if sender.team_id is None or sender.team_id != receiver.team_id:
                raise PermissionDeniedError("credits can only be transferred between members of one team")
            if sender.status == "suspended":
                raise PermissionDeniedError(f"user {from_user_id} is suspended", code="user_suspended")
            posting = await move(
                session, type="transfer", amount=amount,
                source=await _wallet_of(session, "user", from_user_id),
                target=await _wallet_of(session, "user", to_user_id),
                details=Details(user_id=from_user_id, memo=memo), now=self._clock(),
            )  # fmt: skip
            details = {
                "from_user": from_user_id, "to_user": to_user_id, "amount": amount,
                "transaction_id": str(posting.transaction_id),
            }  # fmt: skip
            await self._audit.append(
                session,
                AuditEvent("transfer.peer", f"user {from_user_id} gave credits to user {to_user_id}",
                           from_user_id, details, ip_address),
            )  # fmt: skip
            return posting
