"""Async SQL access for identity, the ledger and audit: SQLite by default, PostgreSQL to scale out.

SQLite allows one writer at a time. Write transactions here start with ``BEGIN IMMEDIATE`` on a writer
pool of one connection, so writers in one process queue for that connection instead of failing with
SQLITE_BUSY when a read lock cannot be upgraded, and writers in other processes wait on
``busy_timeout``. Readers have their own pool and a deferred ``BEGIN``: in WAL mode they run beside the
writer. On PostgreSQL every transaction goes to the primary; ``replica()`` sessions may go to a read
replica for reports that tolerate lag.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

DEFAULT_URL = "sqlite+aiosqlite:///./data/alfred.db"
# The Alembic environment ships inside the package so `alfred migrate` works from an installed wheel.
MIGRATIONS = "alfred:migrations"
_MIGRATION_LOCK = 0x616C66726564  # "alfred": an arbitrary constant every migrating process agrees on

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]


@dataclass(frozen=True, slots=True)
class DatabaseOptions:
    """Pool and SQLite tuning; the defaults suit one gateway process."""

    pool_size: int = 10
    max_overflow: int = 10
    pool_timeout_s: float = 30.0
    busy_timeout_ms: int = 10_000
    # NORMAL in WAL mode survives a killed process (the kill -9 invariant); only an OS crash or power
    # loss can lose the last commits. FULL closes that too, at an fsync per commit.
    sqlite_synchronous: Synchronous = "NORMAL"
    echo: bool = False


class Database:
    """The engines and session factories: ``transaction()`` to write, ``session()``/``replica()`` to read."""

    def __init__(
        self, writer: AsyncEngine, reader: AsyncEngine | None = None, replica: AsyncEngine | None = None
    ):
        self.writer = writer
        self.reader = reader or writer
        self.replica_engine = replica or self.reader
        self._write_sessions = async_sessionmaker(writer, expire_on_commit=False, autoflush=False)
        self._read_sessions = async_sessionmaker(self.reader, expire_on_commit=False, autoflush=False)
        self._replica_sessions = async_sessionmaker(
            self.replica_engine, expire_on_commit=False, autoflush=False
        )

    @classmethod
    def connect(
        cls, url: str = DEFAULT_URL, *, replica_url: str | None = None, options: DatabaseOptions | None = None
    ) -> Database:
        """Build the engines for ``url`` (and an optional read replica); connects lazily."""
        opts = options or DatabaseOptions()
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            path = _sqlite_file(parsed)
            path.parent.mkdir(parents=True, exist_ok=True)
            writer = _sqlite_engine(parsed, opts, pool_size=1, begin="BEGIN IMMEDIATE")
            reader = _sqlite_engine(parsed, opts, pool_size=opts.pool_size, begin="BEGIN")
            return cls(writer, reader)
        writer = _server_engine(parsed, opts)
        replica = _server_engine(make_url(replica_url), opts) if replica_url else None
        return cls(writer, replica=replica)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``: the few statements that differ branch on it."""
        return self.writer.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write transaction on the primary: committed on exit, rolled back on an exception."""
        async with self._write_sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """Reads that must see every committed write (idempotency look-ups, verification)."""
        async with self._read_sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def replica(self) -> AsyncIterator[AsyncSession]:
        """Reads that tolerate replication lag (listings, usage reports)."""
        async with self._replica_sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        engines = {id(e): e for e in (self.writer, self.reader, self.replica_engine)}
        await asyncio.gather(*(e.dispose() for e in engines.values()))


def _sqlite_file(url: URL) -> Path:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        # Each pooled connection would open its own private in-memory database.
        raise ValueError("SQLite needs a file path (e.g. sqlite+aiosqlite:///./data/alfred.db), not :memory:")
    return Path(database)


def _sqlite_engine(url: URL, opts: DatabaseOptions, *, pool_size: int, begin: str) -> AsyncEngine:
    engine = create_async_engine(
        url,
        echo=opts.echo,
        pool_size=pool_size,
        max_overflow=0 if pool_size == 1 else opts.max_overflow,
        pool_timeout=opts.pool_timeout_s,
        connect_args={"timeout": opts.busy_timeout_ms / 1000},
    )
    pragmas = (
        "PRAGMA journal_mode=WAL",
        f"PRAGMA busy_timeout={int(opts.busy_timeout_ms)}",
        f"PRAGMA synchronous={opts.sqlite_synchronous}",
        "PRAGMA foreign_keys=ON",
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the driver so that the hook below decides how a transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in pragmas:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql(begin)

    return engine


def _server_engine(url: URL, opts: DatabaseOptions) -> AsyncEngine:
    return create_async_engine(
        url,
        echo=opts.echo,
        pool_size=opts.pool_size,
        max_overflow=opts.max_overflow,
        pool_timeout=opts.pool_timeout_s,
    )


async def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision`` (what ``alfred migrate`` runs).

    Concurrent calls, in one process or many, run one after another: Alembic's context is
    process-global, so they must never interleave (a PostgreSQL advisory lock or SQLite's single
    writer connection sees to that)."""
    from alembic.config import Config

    db = Database.connect(url)
    try:
        async with db.writer.begin() as conn:
            await conn.run_sync(_upgrade, Config(), revision)
    finally:
        await db.dispose()


def _upgrade(connection: Connection, config: Any, revision: str) -> None:
    from alembic import command

    if connection.dialect.name == "postgresql":
        # Several pods may run `alfred migrate` as they start: one migrates, the others wait and find
        # nothing left to do. (On SQLite the BEGIN IMMEDIATE of the write transaction does the same.)
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
    config.set_main_option("script_location", MIGRATIONS)
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def current_revision(conn: AsyncConnection) -> str | None:
    """The Alembic revision the database is at, or None before the first migration."""

    def read(sync: Connection) -> str | None:
        from alembic.runtime.migration import MigrationContext

        return MigrationContext.configure(sync).get_current_revision()

    return await conn.run_sync(read)
