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
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import PoolResetState

from alfred.state.db_options import DEFAULT_URL as DEFAULT_URL
from alfred.state.db_options import DatabaseOptions as DatabaseOptions
from alfred.state.db_options import Synchronous as Synchronous

# The Alembic environment ships inside the package so `alfred migrate` works from an installed wheel.
MIGRATIONS = "alfred:migrations"
_MIGRATION_LOCK = 0x616C66726564  # "alfred": an arbitrary constant every migrating process agrees on


@dataclass(frozen=True, slots=True)
class SqliteFile:
    """Where a SQLite database lives and how its connections are set up, for a connection of one's own
    beside the pools (the ledger's group commit, ``alfred.ledger.group_commit``)."""

    path: Path
    options: DatabaseOptions

    def connect(self, *, foreign_keys: bool = True) -> sqlite3.Connection:
        """A plain sqlite3 connection set up like the pools' (WAL, synchronous, foreign keys unless
        told otherwise) but that never waits for the write lock (busy timeout 0): its owner decides
        how to wait. It may be used from any one thread at a time; transactions are begun explicitly."""
        conn = sqlite3.connect(self.path, timeout=0, isolation_level=None, check_same_thread=False)
        try:
            for pragma in _sqlite_pragmas(self.options, busy_timeout_ms=0):
                conn.execute(pragma)
            if not foreign_keys:
                conn.execute("PRAGMA foreign_keys=OFF")
        except BaseException:
            conn.close()
            raise
        return conn


class Database:
    """The engines and session factories: ``transaction()`` to write, ``session()``/``replica()`` to read."""

    def __init__(
        self,
        writer: AsyncEngine,
        reader: AsyncEngine | None = None,
        replica: AsyncEngine | None = None,
        *,
        sqlite: SqliteFile | None = None,
    ):
        self.writer = writer
        # SQLite only: the file, for connections outside the pools.
        self.sqlite = sqlite
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
            # A second SQLite file as the "replica" (a copy kept by Litestream or a file sync; tests).
            replica = None
            if replica_url:
                replica_parsed = make_url(replica_url)
                if replica_parsed.get_backend_name() != "sqlite":
                    raise ValueError("replica_url: a SQLite database takes a SQLite replica")
                _sqlite_file(replica_parsed)
                replica = _sqlite_engine(replica_parsed, opts, pool_size=opts.pool_size, begin="BEGIN")
            return cls(writer, reader, replica, sqlite=SqliteFile(path, opts))
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
        # The default reset rolls back every connection handed back to the pool: one more trip to the
        # connection's thread per transaction. ``_on_reset`` does it only when one is still open.
        pool_reset_on_return=None,
    )
    pragmas = _sqlite_pragmas(opts, busy_timeout_ms=opts.busy_timeout_ms)

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

    @event.listens_for(engine.sync_engine, "reset")
    def _on_reset(dbapi_connection: Any, _record: Any, state: PoolResetState) -> None:
        # SQLAlchemy has already rolled back any transaction it began (transaction_was_reset); what
        # is left is one begun on the raw driver connection (alfred.ledger.trips) and not ended.
        # aiosqlite reads in_transaction straight off the sqlite3 handle, without a trip.
        if (
            state.asyncio_safe
            and not state.transaction_was_reset
            and dbapi_connection.driver_connection.in_transaction
        ):
            dbapi_connection.rollback()

    return engine


def _sqlite_pragmas(opts: DatabaseOptions, *, busy_timeout_ms: int) -> tuple[str, ...]:
    return (
        "PRAGMA journal_mode=WAL",
        f"PRAGMA busy_timeout={int(busy_timeout_ms)}",
        f"PRAGMA synchronous={opts.sqlite_synchronous}",
        "PRAGMA foreign_keys=ON",
    )


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

    A database already at the head revision is left alone without loading Alembic at all: gateways
    migrate as they start, and Alembic's import and upgrade check would otherwise cost every start a
    few hundred milliseconds of CPU for nothing. Concurrent calls, in one process or many, run one
    after another: Alembic's context is process-global, so they must never interleave (a PostgreSQL
    advisory lock or SQLite's single writer connection sees to that)."""
    db = Database.connect(url)
    try:
        if revision == "head" and (head := script_head()) is not None and await stamped(db) == {head}:
            return
        from alembic.config import Config

        async with db.writer.begin() as conn:
            await conn.run_sync(_upgrade, Config(), revision)
    finally:
        await db.dispose()


# `revision: str = "0001"` and `down_revision: str | None = None` (or "0001") in a migration script.
_SCRIPT_FIELD = re.compile(r"""^(revision|down_revision)\b[^=\n]*=\s*(?:["']([\w-]+)["']|(None))\s*$""", re.M)


def script_head() -> str | None:
    """The newest migration shipped in the package, read from the scripts' text without importing
    Alembic; None when that is not clear-cut (a merge, a branch), and then Alembic decides."""
    versions = resources.files("alfred.migrations") / "versions"
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in versions.iterdir():
        if not script.name.endswith(".py") or script.name.startswith("__"):
            continue
        fields = {
            name: value or None for name, value, _none in _SCRIPT_FIELD.findall(script.read_text("utf-8"))
        }
        if "revision" not in fields or "down_revision" not in fields or fields["revision"] is None:
            return None
        revisions.add(fields["revision"])
        if fields["down_revision"] is not None:
            parents.add(fields["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


async def stamped(db: Database) -> set[str] | None:
    """The revisions recorded in the database's ``alembic_version`` table; None before the first
    migration (no such table)."""
    try:
        async with db.reader.connect() as conn:
            return {row[0] for row in await conn.execute(text("SELECT version_num FROM alembic_version"))}
    except DBAPIError:
        return None


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
