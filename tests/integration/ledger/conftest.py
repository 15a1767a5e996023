"""Fixtures for the ledger suite: every test runs on SQLite and on a real PostgreSQL.

PostgreSQL is reached at ``ALFRED_TEST_PG_URL`` (default: trust auth, user postgres, database test on
127.0.0.1:5432). A fresh database is created for the session, migrated with ``migrate()``, and dropped at
the end; each test starts from empty tables. If PostgreSQL is unreachable the tests fail: they do not skip.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from alfred.ledger import Ledger, LedgerSettings
from alfred.ledger.tables import GENESIS_HASH
from alfred.state.db import Database, DatabaseOptions, migrate

PG_URL = os.environ.get("ALFRED_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
KEY_SECRET = "test-secret-of-at-least-16-bytes"
TABLES = (
    "approval_requests",
    "api_keys",
    "reservations",
    "ledger_entries",
    "ledger_transactions",
    "wallets",
    "users",
    "teams",
    "audit_log",
)
SMALL_POOL = DatabaseOptions(pool_size=5, max_overflow=5)


class Clock:
    """A clock the tests move by hand, so expiry needs no sleeping."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@dataclass
class Backend:
    """Where a test's ledger lives: a URL to open more engines on (a second 'process')."""

    name: str
    url: str
    clock: Clock

    def database(self) -> Database:
        return Database.connect(self.url, options=SMALL_POOL)

    def ledger(self, db: Database | None = None) -> Ledger:
        settings = LedgerSettings(database_url=self.url, reservation_ttl_s=60)
        return Ledger.build(settings, key_secret=KEY_SECRET, db=db or self.database(), clock=self.clock)


def _asyncpg_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url)
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def _in_thread(coro: Coroutine[Any, Any, None]) -> None:
    # Session setup runs while the test event loop may be running; a thread gets a loop of its own.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro).result()


async def _create_database(name: str) -> None:
    admin = await asyncpg.connect(_asyncpg_dsn(PG_URL), timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def _drop_database(name: str) -> None:
    admin = await asyncpg.connect(_asyncpg_dsn(PG_URL), timeout=10)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session, dropped afterwards."""
    name = f"alfred_ledger_{uuid.uuid4().hex[:12]}"
    _in_thread(_create_database(name))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        _in_thread(migrate(url))
        yield url
    finally:
        _in_thread(_drop_database(name))


async def _empty_postgres(url: str) -> None:
    db = Database.connect(url, options=DatabaseOptions(pool_size=1, max_overflow=0))
    try:
        async with db.transaction() as session:
            await session.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
            await session.execute(text("UPDATE audit_head SET seq = 0, hash = :h"), {"h": GENESIS_HASH})
    finally:
        await db.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
        await migrate(url)
    else:
        url = request.getfixturevalue("pg_url")
        await _empty_postgres(url)
    yield Backend(request.param, url, Clock())


@pytest.fixture
async def ledger(backend: Backend) -> AsyncIterator[Ledger]:
    built = backend.ledger()
    try:
        yield built
    finally:
        await built.close()


@pytest.fixture
def clock(backend: Backend) -> Iterator[Clock]:
    yield backend.clock
