"""Approval requests and peer transfers, with regression tests for the seed project's bugs: negative
transfers, self-approval and transfers to oneself."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from alfred.errors import InsufficientQuotaError, InvalidRequestError, PermissionDeniedError
from alfred.ledger import Ledger
from alfred.ledger.tables import ApprovalRequest

from .conftest import Backend
from .seed import count_transactions, squad, wallet


async def test_a_team_admin_approves_from_the_pool(ledger: Ledger) -> None:
    s = await squad(ledger, pool=10_000, quota=1_000)
    asked = await ledger.approvals.request(s.alice.id, 2_500, reason="launch week")
    assert asked.state == "pending" and [a.id for a in await ledger.approvals.pending(s.team.id)] == [
        asked.id
    ]
    decided = await ledger.approvals.decide(asked.id, s.admin.id, approve=True, ip_address="10.0.0.9")
    assert decided.state == "approved" and decided.decided_by == s.admin.id and decided.transaction_id
    assert (await ledger.accounts.get(wallet(s.alice))).balance == 3_500
    assert (await ledger.accounts.get(wallet(s.team))).balance == 7_500
    with pytest.raises(InvalidRequestError) as err:
        await ledger.approvals.decide(asked.id, s.admin.id, approve=True)
    assert err.value.code == "already_decided"
    events = [e.event_type for e in await ledger.audit.recent()]
    assert "approval.requested" in events and "approval.approved" in events
    assert (await ledger.check()).healthy and (await ledger.audit.verify()).ok


async def test_rejection_moves_nothing(ledger: Ledger) -> None:
    s = await squad(ledger)
    asked = await ledger.approvals.request(s.alice.id, 500)
    decided = await ledger.approvals.decide(asked.id, s.admin.id, approve=False)
    assert decided.state == "rejected" and decided.transaction_id is None
    assert (await ledger.accounts.get(wallet(s.alice))).balance == 1_000


async def test_regression_no_self_approval(ledger: Ledger) -> None:
    s = await squad(ledger)
    own = await ledger.approvals.request(s.admin.id, 500)  # the team admin asks for themselves
    with pytest.raises(PermissionDeniedError) as err:
        await ledger.approvals.decide(own.id, s.admin.id, approve=True)
    assert err.value.code == "self_approval"
    assert (await ledger.approvals.get(own.id)).state == "pending"
    assert (await ledger.accounts.get(wallet(s.admin))).balance == 1_000
    # The database refuses it too, whatever code path tries.
    with pytest.raises(IntegrityError):
        async with ledger.db.transaction() as session:
            await session.execute(
                update(ApprovalRequest)
                .where(ApprovalRequest.id == own.id)
                .values(state="approved", decided_by=s.admin.id)
            )


async def test_only_a_team_admin_may_decide(ledger: Ledger) -> None:
    s = await squad(ledger)
    asked = await ledger.approvals.request(s.alice.id, 500)
    with pytest.raises(PermissionDeniedError):
        await ledger.approvals.decide(asked.id, s.bob.id, approve=True)
    outsider = await ledger.directory.create_team("other")
    other_admin = await ledger.directory.create_user("o@x.io", "O", team_id=outsider.id, team_role="admin")
    with pytest.raises(PermissionDeniedError):
        await ledger.approvals.decide(asked.id, other_admin.id, approve=True)
    root = await ledger.directory.create_user("root@x.io", "Root", is_admin=True)
    assert (await ledger.approvals.decide(asked.id, root.id, approve=True)).state == "approved"


async def test_two_admins_racing_approve_once(backend: Backend, ledger: Ledger) -> None:
    s = await squad(ledger, pool=10_000)
    second_admin = await ledger.directory.create_user(
        "admin2@core.io", "A2", team_id=s.team.id, team_role="admin"
    )
    asked = await ledger.approvals.request(s.alice.id, 1_000)
    other = backend.ledger()
    try:
        results = await asyncio.gather(
            ledger.approvals.decide(asked.id, s.admin.id, approve=True),
            other.approvals.decide(asked.id, second_admin.id, approve=True),
            return_exceptions=True,
        )
    finally:
        await other.close()
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, InvalidRequestError) for r in results if isinstance(r, BaseException))
    assert (await ledger.accounts.get(wallet(s.alice))).balance == 2_000


async def test_approval_beyond_the_pool_is_refused(ledger: Ledger) -> None:
    s = await squad(ledger, pool=1_000)
    asked = await ledger.approvals.request(s.alice.id, 5_000)
    with pytest.raises(InsufficientQuotaError):
        await ledger.approvals.decide(asked.id, s.admin.id, approve=True)
    assert (await ledger.approvals.get(asked.id)).state == "pending"  # rolled back with the transfer


async def test_peer_transfer_moves_both_sides_at_once(ledger: Ledger) -> None:
    s = await squad(ledger, quota=1_000)
    posting = await ledger.approvals.transfer(s.alice.id, s.bob.id, 300, memo="thanks")
    assert posting.balances == {wallet(s.alice): 700, wallet(s.bob): 1_300}
    with pytest.raises(InsufficientQuotaError):
        await ledger.approvals.transfer(s.alice.id, s.bob.id, 701)
    assert (await ledger.accounts.get(wallet(s.alice))).balance == 700
    [event] = await ledger.audit.recent(event_type="transfer.peer")
    assert event.details["amount"] == 300
    assert (await ledger.check()).healthy


@pytest.mark.parametrize("amount", [0, -300])
async def test_regression_no_negative_or_zero_amounts(ledger: Ledger, amount: int) -> None:
    s = await squad(ledger, pool=1_000, quota=1_000)
    before = await count_transactions(ledger)
    with pytest.raises(InvalidRequestError):
        await ledger.approvals.transfer(s.alice.id, s.bob.id, amount)
    with pytest.raises(InvalidRequestError):
        await ledger.accounts.transfer(wallet(s.alice), wallet(s.bob), amount)
    with pytest.raises(InvalidRequestError):
        await ledger.accounts.topup(wallet(s.alice), amount)
    with pytest.raises(InvalidRequestError):
        await ledger.approvals.request(s.alice.id, amount)
    assert await count_transactions(ledger) == before
    assert (await ledger.accounts.get(wallet(s.alice))).balance == 1_000
    assert (await ledger.accounts.get(wallet(s.bob))).balance == 1_000


async def test_regression_no_transfer_to_oneself(ledger: Ledger) -> None:
    s = await squad(ledger)
    with pytest.raises(InvalidRequestError) as err:
        await ledger.approvals.transfer(s.alice.id, s.alice.id, 100)
    assert err.value.code == "self_transfer"
    with pytest.raises(InvalidRequestError):
        await ledger.accounts.transfer(wallet(s.alice), wallet(s.alice), 100)
    assert (await ledger.accounts.get(wallet(s.alice))).balance == 1_000


async def test_peer_transfers_stay_inside_the_team(ledger: Ledger) -> None:
    s = await squad(ledger)
    stranger = await ledger.directory.create_user("s@x.io", "S", personal_quota=100)
    with pytest.raises(PermissionDeniedError):
        await ledger.approvals.transfer(s.alice.id, stranger.id, 100)


async def test_opposite_transfers_do_not_deadlock(backend: Backend, ledger: Ledger) -> None:
    s = await squad(ledger, quota=100_000)
    other = backend.ledger()
    try:
        await asyncio.gather(
            *(
                (ledger if i % 2 else other).approvals.transfer(
                    s.alice.id if i % 2 else s.bob.id, s.bob.id if i % 2 else s.alice.id, 10
                )
                for i in range(40)
            )
        )
    finally:
        await other.close()
    assert (await ledger.accounts.get(wallet(s.alice))).balance == 100_000
    assert (await ledger.check()).healthy and (await ledger.audit.verify()).ok
