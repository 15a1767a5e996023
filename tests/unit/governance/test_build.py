"""Governance as the composition root wires it: stages in the pipeline, migrations at start, the admin
app mounted, expired reservations reconciled, and a clear error for a configuration that cannot work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from alfred.app import build_app
from alfred.config import Settings
from alfred.governance.build import GovernanceConfigError, Reconciler, build_governance
from alfred.ledger import Ledger, LedgerSettings
from alfred.routing.catalog import ModelCatalog
from alfred.secrets import SecretResolver
from alfred.state.db import migrate

SECRET = "unit-test-key-hash-secret"  # nosec B105 - a test ledger


def settings(tmp_path: Path, **top: Any) -> Settings:
    return Settings.model_validate(
        {
            "master_key": "sk-alfred-unit-master",
            "key_hash_secret": SECRET,
            "providers": {"up": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": "sk-x"}},
            "models": [{"name": "m", "deployments": [{"provider": "up", "model": "gpt-4o-mini"}]}],
            "governance": {
                "enabled": True,
                "ledger": {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'l.db'}"},
            },
            **top,
        }
    )


def test_governance_without_a_key_hash_secret_is_a_config_error(tmp_path: Path) -> None:
    config = settings(tmp_path, key_hash_secret=None)
    catalog = ModelCatalog.from_settings(config, SecretResolver())
    with pytest.raises(GovernanceConfigError, match="key_hash_secret"):
        build_governance(config, resolver=SecretResolver(), catalog=catalog)


async def test_the_app_runs_auth_and_quota_migrates_and_mounts_the_admin_api(tmp_path: Path) -> None:
    app = build_app(settings(tmp_path))
    components = app.components
    assert components.governance is not None
    assert {"auth", "quota"} <= set(components.pipeline.stage_names)
    await app.startup()
    try:
        user = await components.governance.ledger.directory.create_user("a@x.io", "A")  # the tables exist
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            keyless = await client.post(
                "/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "hi"}]}
            )
            assert keyless.status_code == 401
            admin = await client.get(
                f"/admin/users/{user.id}", headers={"authorization": "Bearer sk-alfred-unit-master"}
            )
            assert admin.status_code == 200 and admin.json()["email"] == "a@x.io"
    finally:
        await app.shutdown()


async def test_governance_off_leaves_the_pipeline_as_it_was(tmp_path: Path) -> None:
    app = build_app(settings(tmp_path, governance={"enabled": False}))
    assert app.components.governance is None
    assert not {"auth", "quota"} & set(app.components.pipeline.stage_names)


async def test_the_reconciler_expires_reservations_that_outlived_their_request(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'r.db'}"
    await migrate(url)
    now = [datetime.now(UTC)]
    ledger = Ledger.build(
        LedgerSettings(database_url=url, reservation_ttl_s=60), key_secret=SECRET, clock=lambda: now[0]
    )
    try:
        user = await ledger.directory.create_user("a@x.io", "A", personal_quota=1_000)
        await ledger.governance.reserve(user.id, "orphan", 400)
        reconciler = Reconciler(ledger, interval_s=1)
        assert await reconciler.run_once() == 0  # not yet due
        now[0] += timedelta(seconds=61)
        assert await reconciler.run_once() == 1
        assert user.wallet_id is not None
        assert (await ledger.accounts.get(user.wallet_id)).reserved == 0
        assert (await ledger.check()).healthy
    finally:
        await ledger.close()
