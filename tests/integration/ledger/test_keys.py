"""API keys: stored only as a keyed hash; inactive, revoked, expired keys and suspended users fail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from alfred.errors import InvalidRequestError, NotFoundError
from alfred.ledger import Ledger
from alfred.ledger.keys import KEY_PREFIX
from alfred.ledger.tables import ApiKey, User

from .conftest import Clock


async def test_create_and_authenticate(ledger: Ledger) -> None:
    team = await ledger.directory.create_team("t")
    user = await ledger.directory.create_user("a@x.io", "A", team_id=team.id)
    created = await ledger.keys.create(
        user.id, "ci", allowed_models=["gpt-4o", "gpt-4o-mini", "gpt-4o"], budget=5_000, rpm_limit=60,
        tpm_limit=10_000, priority=True, actor_id=user.id,
    )  # fmt: skip
    assert created.key.startswith(KEY_PREFIX) and len(created.key) > 40
    assert created.info.prefix == created.key[: len(created.info.prefix)]
    assert created.info.allowed_models == ("gpt-4o", "gpt-4o-mini")
    identity = await ledger.keys.authenticate(created.key)
    assert identity is not None
    assert (identity.user_id, identity.team_id, identity.priority) == (user.id, team.id, True)
    assert identity.key.rpm_limit == 60 and identity.key.budget == 5_000
    assert await ledger.keys.authenticate(created.key[:-1] + ("A" if created.key[-1] != "A" else "B")) is None
    assert await ledger.keys.authenticate("sk-alfred-short") is None
    assert await ledger.keys.authenticate("Bearer nonsense") is None
    [event] = await ledger.audit.recent(event_type="key.created")
    assert created.key not in repr(event.details) and event.details["prefix"] == created.info.prefix


async def test_the_key_is_never_stored(ledger: Ledger) -> None:
    user = await ledger.directory.create_user("a@x.io", "A")
    created = await ledger.keys.create(user.id, "k")
    secret_part = created.key[len(created.info.prefix) :]
    async with ledger.db.session() as session:
        row = (await session.execute(select(ApiKey))).scalar_one()
        dump = " ".join(str(v) for v in (await session.execute(text("SELECT * FROM api_keys"))).one())
        audit = " ".join(str(r) for r in (await session.execute(text("SELECT * FROM audit_log"))).all())
    assert row.key_hash != created.key and len(row.key_hash) == 64
    assert secret_part not in dump and secret_part not in audit


async def test_revoked_keys_fail_and_revoking_is_audited_once(ledger: Ledger) -> None:
    user = await ledger.directory.create_user("a@x.io", "A")
    created = await ledger.keys.create(user.id, "k")
    info = await ledger.keys.revoke(created.info.id, actor_id=user.id)
    again = await ledger.keys.revoke(created.info.id, actor_id=user.id)
    assert not info.is_active and info.revoked_at is not None and again.revoked_at == info.revoked_at
    assert await ledger.keys.authenticate(created.key) is None
    assert len(await ledger.audit.recent(event_type="key.revoked")) == 1
    with pytest.raises(NotFoundError):
        await ledger.keys.revoke(999)


async def test_expired_and_inactive_keys_and_suspended_users_fail(ledger: Ledger, clock: Clock) -> None:
    user = await ledger.directory.create_user("a@x.io", "A")
    expiring = await ledger.keys.create(user.id, "short", expires_at=clock() + timedelta(minutes=5))
    inactive = await ledger.keys.create(user.id, "off")
    async with ledger.db.transaction() as session:
        await session.execute(update(ApiKey).where(ApiKey.id == inactive.info.id).values(is_active=False))
    assert await ledger.keys.authenticate(expiring.key) is not None
    assert await ledger.keys.authenticate(inactive.key) is None
    clock.advance(minutes=5)
    assert await ledger.keys.authenticate(expiring.key) is None
    fresh = await ledger.keys.create(user.id, "fresh")
    async with ledger.db.transaction() as session:
        await session.execute(update(User).where(User.id == user.id).values(status="suspended"))
    assert await ledger.keys.authenticate(fresh.key) is None


async def test_bad_key_settings_are_refused(ledger: Ledger) -> None:
    user = await ledger.directory.create_user("a@x.io", "A")
    with pytest.raises(InvalidRequestError):
        await ledger.keys.create(user.id, "k", budget=-1)
    with pytest.raises(InvalidRequestError):
        await ledger.keys.create(user.id, "k", rpm_limit=0)
    with pytest.raises(NotFoundError):
        await ledger.keys.create(12345, "k")
    assert await ledger.keys.list_for(user.id) == []
