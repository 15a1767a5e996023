"""The admin and self-service APIs against a running gateway (skipped until it serves the admin API):
a team, a user and a key, the key's own /v1/me, a wallet top-up and transfer, usage, the audit chain,
and revocation turning the key's next call into a typed 401."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from alfred_sdk import Alfred, AsyncAlfred, AuthenticationError, BadRequestError


def test_team_user_key_wallet_audit_and_revocation(base_url: str, admin_key: str) -> None:
    tag = uuid.uuid4().hex[:8]
    with Alfred(admin_key, base_url=base_url) as alfred:
        admin = alfred.admin
        team = admin.create_team(name=f"sdk-team-{tag}", common_pool="10")
        user = admin.create_user(
            email=f"sdk-{tag}@example.com", name="SDK", team_id=team.id_, personal_quota="5"
        )
        assert user.team_id == team.id_ and user.wallet_id is not None and team.wallet_id is not None
        assert team.id_ in {t.id_ for t in admin.list_teams()}
        assert user.id_ in {u.id_ for u in admin.list_users()}
        created = admin.create_key(user_id=user.id_, name="sdk")
        assert created.key.startswith(created.prefix) and created.is_active

        before = Decimal(admin.get_wallet(user.wallet_id).balance)
        posting = admin.topup(user.wallet_id, amount="2.5", idempotency_key=f"sdk-{tag}")
        assert posting.type_ == "topup" and Decimal(posting.amount) == Decimal("2.5")
        again = admin.topup(user.wallet_id, amount="2.5", idempotency_key=f"sdk-{tag}")
        assert again.replayed and again.transaction_id == posting.transaction_id  # idempotent
        admin.transfer(from_wallet=user.wallet_id, to_wallet=team.wallet_id, amount="1")
        assert Decimal(admin.get_wallet(user.wallet_id).balance) == before + Decimal("1.5")
        with pytest.raises(BadRequestError) as refused:
            admin.transfer(from_wallet=user.wallet_id, to_wallet=team.wallet_id, amount="-1")
        assert refused.value.param == "amount"

        assert any(t.type_ == "topup" for t in admin.list_transactions())
        admin.usage()
        assert admin.audit()
        verdict = admin.verify_audit()
        assert verdict.ok and verdict.rows_checked > 0, verdict
        assert admin.ledger_check() is not None

        with Alfred(created.key, base_url=base_url) as own:
            me = own.me()
            assert me.user is not None and me.user.email == user.email
            assert {w.id_ for w in me.wallets} >= {user.wallet_id}
            admin.revoke_key(created.id_)
            with pytest.raises(AuthenticationError) as caught:
                own.me()
            assert caught.value.status == 401 and caught.value.request_id


async def test_async_admin_creates_and_lists_teams(base_url: str, admin_key: str) -> None:
    async with AsyncAlfred(admin_key, base_url=base_url) as alfred:
        team = await alfred.admin.create_team(name=f"sdk-async-{uuid.uuid4().hex[:8]}")
        assert team.id_ in {t.id_ for t in await alfred.admin.list_teams()}
        assert (await alfred.admin.verify_audit()).ok


def test_admin_calls_with_an_unknown_key_are_refused(base_url: str, admin_key: str) -> None:
    with Alfred("sk-not-a-real-key", base_url=base_url) as stranger, pytest.raises(AuthenticationError):
        stranger.admin.list_teams()
