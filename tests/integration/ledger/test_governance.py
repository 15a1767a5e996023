"""The quota cascade (personal → team pool when priority → a vacationing teammate's share → refused),
soft and hard limits, and suspended users."""

from __future__ import annotations

import pytest

from alfred.errors import InsufficientQuotaError, InvalidRequestError, PermissionDeniedError
from alfred.ledger import Ledger

from .seed import squad, wallet


async def test_personal_wallet_pays_first(ledger: Ledger) -> None:
    s = await squad(ledger, allow_pool=True)
    hold = await ledger.governance.reserve(s.alice.id, "r1", 800)
    assert (hold.source, hold.wallet_id) == ("personal", wallet(s.alice))


async def test_priority_falls_back_to_the_team_pool(ledger: Ledger) -> None:
    s = await squad(ledger, pool=10_000, quota=1_000, share_pct=0)
    with pytest.raises(InsufficientQuotaError):
        await ledger.governance.reserve(s.alice.id, "r1", 1_500)  # not priority, and the pool is closed
    hold = await ledger.governance.reserve(s.alice.id, "r2", 1_500, priority=True)
    assert (hold.source, hold.wallet_id) == ("team", wallet(s.team))
    charge = await ledger.wallets.settle("r2", 1_200)
    team = await ledger.directory.get_team(s.team.id)
    assert team.used_pool == charge.charged == 1_200
    assert (await ledger.accounts.get(wallet(s.team))).balance == 8_800
    assert (await ledger.accounts.get(wallet(s.alice))).balance == 1_000  # personal untouched


async def test_a_priority_user_or_an_open_pool_also_reaches_the_pool(ledger: Ledger) -> None:
    s = await squad(ledger, allow_pool=True, quota=100)
    hold = await ledger.governance.reserve(s.alice.id, "r1", 500)
    assert hold.source == "team"
    vip = await ledger.directory.create_user("vip@x.io", "VIP", personal_quota=0, priority=True)
    with pytest.raises(InsufficientQuotaError):  # priority, but no team to fall back to
        await ledger.governance.reserve(vip.id, "r2", 10)


async def test_a_vacationing_teammate_lends_their_share(ledger: Ledger) -> None:
    s = await squad(ledger, pool=0, quota=10_000, share_pct=10)
    lent = await ledger.governance.set_vacation(s.bob.id, True, actor_id=s.bob.id)
    assert lent == 1_000  # (10_000 unused) x 10 / 100
    assert (await ledger.directory.get_user(s.bob.id)).status == "vacation"
    await ledger.governance.reserve(s.alice.id, "own", 10_000)  # Alice spends all of her own first
    hold = await ledger.governance.reserve(s.alice.id, "borrowed", 600)
    assert (hold.source, hold.wallet_id) == ("vacation", wallet(s.bob))
    with pytest.raises(InsufficientQuotaError):
        await ledger.governance.reserve(s.alice.id, "too-much", 500)  # only 400 of the share is left
    await ledger.governance.reserve(s.alice.id, "rest", 400)
    await ledger.wallets.settle("borrowed", 600)
    assert (await ledger.accounts.get(wallet(s.bob))).balance == 9_400
    # Back from vacation: the share is no longer lent.
    await ledger.wallets.release("rest")
    await ledger.governance.set_vacation(s.bob.id, False)
    assert (await ledger.accounts.get(wallet(s.bob))).lend_floor is None
    with pytest.raises(InsufficientQuotaError):
        await ledger.governance.reserve(s.alice.id, "after", 100)
    [on] = await ledger.audit.recent(event_type="vacation.on")
    [off] = await ledger.audit.recent(event_type="vacation.off")
    assert (on.user_id, on.details["share"], off.details["user_id"]) == (s.bob.id, 1_000, s.bob.id)
    assert (await ledger.check()).healthy


async def test_the_vacationer_can_still_spend_their_own_credits(ledger: Ledger) -> None:
    s = await squad(ledger, pool=0, quota=1_000, share_pct=50)
    assert await ledger.governance.set_vacation(s.bob.id, True) == 500
    hold = await ledger.governance.reserve(s.bob.id, "own", 1_000)
    assert hold.source == "personal"
    with pytest.raises(InsufficientQuotaError):  # Bob spent below what he lent: nothing left to borrow
        await ledger.governance.reserve(s.alice.id, "borrow", 1_001)


async def test_refusal_is_audited_and_changes_nothing(ledger: Ledger) -> None:
    s = await squad(ledger, pool=0, quota=100)
    with pytest.raises(InsufficientQuotaError) as err:
        await ledger.governance.reserve(s.alice.id, "big", 5_000, model="gpt-4o", ip_address="10.1.2.3")
    assert err.value.status == 402 and err.value.code == "insufficient_quota"
    [event] = await ledger.audit.recent(event_type="budget.refused")
    assert event.user_id == s.alice.id and event.details["request_id"] == "big"
    assert event.ip_address == "10.1.2.3"
    assert await ledger.wallets.find_hold("big") is None
    assert (await ledger.accounts.get(wallet(s.alice))).reserved == 0


async def test_soft_limit_warns_and_audits_once(ledger: Ledger) -> None:
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=1_000, soft_limit=300)
    first = await ledger.governance.reserve(user.id, "r1", 600)
    assert not first.soft_limit_warning
    second = await ledger.governance.reserve(user.id, "r2", 200)  # 1_000 - 800 = 200 < 300
    third = await ledger.governance.reserve(user.id, "r3", 100)
    assert second.soft_limit_warning and second.soft_limit_crossed
    assert third.soft_limit_warning and not third.soft_limit_crossed
    events = await ledger.audit.recent(event_type="budget.soft_limit")
    assert [e.details["request_id"] for e in events] == ["r2"]


async def test_hard_limit_allows_credit(ledger: Ledger) -> None:
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=0, hard_limit=-500)
    await ledger.governance.reserve(user.id, "r1", 500)
    with pytest.raises(InsufficientQuotaError):
        await ledger.governance.reserve(user.id, "r2", 1)
    await ledger.wallets.settle("r1", 500)
    assert (await ledger.accounts.get(wallet(user))).balance == -500


async def test_suspended_users_and_frozen_wallets_are_refused(ledger: Ledger) -> None:
    s = await squad(ledger)
    from sqlalchemy import update

    from alfred.ledger.tables import User

    async with ledger.db.transaction() as session:
        await session.execute(update(User).where(User.id == s.alice.id).values(status="suspended"))
    with pytest.raises(PermissionDeniedError):
        await ledger.governance.reserve(s.alice.id, "r1", 1)
    with pytest.raises(InvalidRequestError):
        await ledger.governance.set_vacation(s.alice.id, True)
    await ledger.accounts.set_limits(wallet(s.bob), status="frozen", actor_id=s.admin.id)
    with pytest.raises(InsufficientQuotaError):
        await ledger.governance.reserve(s.bob.id, "r2", 1)
    [event] = await ledger.audit.recent(event_type="wallet.limits")
    assert event.details["after"] == {"status": "frozen"}
