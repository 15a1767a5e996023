"""Reports, listings and audit reads come from ``governance.ledger.replica_url``; writes never go there.

The "replica" is a second database with different rows (so where an answer came from shows in it):
two SQLite files, and two PostgreSQL databases on the test server.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from alfred.api.admin import AdminDeps
from alfred.ledger import Ledger, LedgerSettings
from alfred.ledger.tables import AuditRow, Team
from alfred.state.db import migrate
from tests.integration.admin.harness import KEY_SECRET, MASTER_KEY, Harness, authenticator
from tests.integration.admin.usage import call
from tests.integration.ledger.conftest import PG_URL, _create_database, _drop_database


@pytest.fixture(params=["sqlite", "postgresql"])
async def pair(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """(primary URL, replica URL), both migrated and empty."""
    if request.param == "sqlite":
        urls = [f"sqlite+aiosqlite:///{tmp_path / name}" for name in ("primary.db", "replica.db")]
        names: list[str] = []
    else:
        names = [f"alfred_replica_{uuid.uuid4().hex[:10]}_{n}" for n in ("p", "r")]
        for name in names:
            await _create_database(name)
        urls = [make_url(PG_URL).set(database=n).render_as_string(hide_password=False) for n in names]
    try:
        for url in urls:
            await migrate(url)
        yield urls[0], urls[1]
    finally:
        for name in names:
            await _drop_database(name)


async def _count(ledger: Ledger, table: type) -> int:
    async with ledger.db.session() as session:
        return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


async def test_reads_come_from_the_replica_and_writes_go_to_the_primary(pair: tuple[str, str]) -> None:
    primary_url, replica_url = pair
    settings = LedgerSettings(database_url=primary_url, replica_url=replica_url)
    ledger = Ledger.build(settings, key_secret=KEY_SECRET)
    harness = Harness(ledger, AdminDeps(ledger, authenticator(ledger, MASTER_KEY), lambda _key_id: None))
    primary = Ledger.build(LedgerSettings(database_url=primary_url), key_secret=KEY_SECRET)
    replica = Ledger.build(LedgerSettings(database_url=replica_url), key_secret=KEY_SECRET)
    try:
        # rows only the replica has: a team, a user and one charge (with their audit rows)
        team = await replica.directory.create_team("replica-only", common_pool=1_000_000)
        user = await replica.directory.create_user(
            "r@replica.io", "R", team_id=team.id, personal_quota=500_000
        )
        await call(replica, user.id, "replica-req", 123_000, model="replica-model")
        async with harness.client() as master:
            created = await master.post("/admin/teams", json={"name": "primary-only"})
            assert created.status_code == 201, created.text
            # the write went to the primary, never to the replica
            assert await _count(primary, Team) == 1 and await _count(replica, Team) == 1
            async with primary.db.session() as session:
                assert (await session.execute(select(Team.name))).scalars().all() == ["primary-only"]
            replica_audit = await _count(replica, AuditRow)
            assert await _count(primary, AuditRow) >= 1

            # the listings answer from the replica: its team, its charge, its audit trail
            teams = (await master.get("/admin/teams")).json()
            assert [t["name"] for t in teams] == ["replica-only"]
            usage = (await master.get("/admin/usage?group_by=model")).json()
            assert [(u["key"], u["cost_micros"]) for u in usage] == [("replica-model", 123_000)]
            transactions = (await master.get("/admin/transactions?type=charge")).json()
            assert [t["request_id"] for t in transactions] == ["replica-req"]
            audit = (await master.get("/admin/audit?limit=100")).json()
            assert len(audit) == replica_audit
            assert all("primary-only" not in str(entry) for entry in audit)
            users = (await master.get("/admin/users")).json()
            assert [u["email"] for u in users] == ["r@replica.io"]
    finally:
        await harness.close()
        await primary.close()
        await replica.close()
