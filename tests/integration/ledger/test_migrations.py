"""Migrations run clean on both databases, by ``migrate()`` and by the ``alembic`` command line."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from alfred.ledger.tables import Base
from alfred.state.db import Database, current_revision, migrate

from .conftest import PG_URL, Backend, _create_database, _drop_database

ROOT = Path(__file__).resolve().parents[3]


async def test_migrate_is_idempotent_and_complete(backend: Backend) -> None:
    await migrate(backend.url)  # the fixture already did once; again is a no-op
    db = Database.connect(backend.url)
    try:
        async with db.writer.connect() as conn:
            assert await current_revision(conn) == "0002"
            tables = await conn.run_sync(lambda sync: set(sync.dialect.get_table_names(sync)))
        assert set(Base.metadata.tables) <= tables
        async with db.session() as session:
            head = (await session.execute(text("SELECT seq, hash FROM audit_head"))).one()
        assert head == (0, "0" * 64)
    finally:
        await db.dispose()


async def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    db = Database.connect(f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'a.db'}")
    try:
        async with db.session() as session:
            mode = (await session.execute(text("PRAGMA journal_mode"))).scalar()
            timeout = (await session.execute(text("PRAGMA busy_timeout"))).scalar()
            keys = (await session.execute(text("PRAGMA foreign_keys"))).scalar()
        assert (mode, timeout, keys) == ("wal", 10_000, 1)
        assert (tmp_path / "nested").is_dir()
    finally:
        await db.dispose()


def _alembic(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ALFRED_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_alembic_cli_upgrade_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    for args in (("upgrade", "head"), ("check",), ("downgrade", "base"), ("upgrade", "head")):
        done = await asyncio.to_thread(_alembic, url, *args)
        assert done.returncode == 0, done.stderr


async def test_alembic_cli_upgrade_on_postgresql() -> None:
    name = f"alfred_cli_{uuid.uuid4().hex[:12]}"
    await _create_database(name)
    try:
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        for args in (("upgrade", "head"), ("check",), ("downgrade", "base"), ("upgrade", "head")):
            done = await asyncio.to_thread(_alembic, url, *args)
            assert done.returncode == 0, done.stderr
    finally:
        await _drop_database(name)


async def test_reports_read_from_the_replica(pg_url: str) -> None:
    db = Database.connect(pg_url, replica_url=pg_url)
    try:
        assert db.replica_engine is not db.writer and db.reader is db.writer
        async with db.replica() as session:
            assert (await session.execute(text("SELECT 1"))).scalar() == 1
    finally:
        await db.dispose()


async def test_concurrent_migrations_do_not_collide(tmp_path: Path) -> None:
    name = f"alfred_race_{uuid.uuid4().hex[:12]}"
    await _create_database(name)
    try:
        urls = [
            make_url(PG_URL).set(database=name).render_as_string(hide_password=False),
            f"sqlite+aiosqlite:///{tmp_path / 'race.db'}",
        ]
        for url in urls:  # three "pods" starting at once against each database
            # Without serialisation concurrent DDL can wait on itself for ever: fail instead of hanging.
            await asyncio.wait_for(asyncio.gather(*(migrate(url) for _ in range(3))), timeout=60)
            db = Database.connect(url)
            try:
                async with db.writer.connect() as conn:
                    assert await current_revision(conn) == "0002"
            finally:
                await db.dispose()
    finally:
        await _drop_database(name)
