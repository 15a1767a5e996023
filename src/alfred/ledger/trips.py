"""One trip to the database per write transaction on the request path.

Reserve, settle and release are each a handful of short statements. Through the async ORM every
statement cost several hand-offs to the driver (aiosqlite runs each cursor call -- open, execute,
fetch, close -- on its own thread) plus the ORM's per-statement work: about 10 ms per reserve + settle.
Here such a transaction is written once as a *script*, a generator that yields ``Step``s (SQL and its
parameters) and is sent back each statement's rows, and a driver runs it:

- SQLite: scripts are group-committed (``alfred.ledger.group_commit``): the ones waiting for the writer
  run in one transaction, each in its own savepoint, in one hop to the driver's thread (or, alone,
  on the event loop), and every caller resumes after the COMMIT that holds its writes;
- PostgreSQL: each step is one asyncpg round trip inside one transaction (read committed, like
  ``Database.transaction()``: the conditional UPDATEs re-check their guard on the locked row).

On PostgreSQL the connection is checked out of the writer pool; on SQLite the group commit writes on
a connection of its own and meets the pool's writer (the ORM's transactions) at SQLite's write lock,
as another process would. A script that raises rolls everything back; ``Fallback`` is how a script says "not on the
fast path: roll back and let the caller take the general one". Database errors surface as SQLAlchemy's
(``IntegrityError`` for a duplicate key, ``OperationalError``…) on both backends, as through the ORM.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Uuid
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

from alfred.ledger.group_commit import GroupCommit
from alfred.ledger.scripts import Fallback, Query, Row, Script, Step, advance
from alfred.ledger.tables import UtcDateTime
from alfred.state.db import Database

__all__ = ["Fallback", "Query", "Row", "Script", "Step", "Trips"]

T = TypeVar("T")


class Trips:
    """Runs scripts on the writer, one hop (SQLite) or one round trip per statement (PostgreSQL)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.dialect = db.dialect
        dialect = db.writer.dialect
        self._read_time = _processor(UtcDateTime(), dialect, bind=False)
        bind_time = _processor(UtcDateTime(), dialect, bind=True)
        bind_uuid = _processor(Uuid(), dialect, bind=True)
        self.group_commit = GroupCommit(db, bind_time, bind_uuid) if self.dialect == "sqlite" else None

    async def close(self) -> None:
        """Close the group commit's own connection (SQLite); the engines are the database's to close."""
        if self.group_commit is not None:
            await self.group_commit.close()

    def time(self, value: Any) -> datetime:
        """A timestamp column read back through a script, as an aware UTC datetime."""
        if isinstance(value, datetime):
            return value.astimezone(UTC)
        parsed = self._read_time(value)
        assert isinstance(parsed, datetime)
        return parsed

    async def run(self, script: Callable[[], Script[T]]) -> T:
        """Run ``script`` in one write transaction and return its result.

        Cancelling the caller before its group starts takes the script out of it; once started, it
        runs to its end (committed or not), as a statement sent to a database does."""
        if self.group_commit is not None:
            return await self.group_commit.run(script)
        # Straight from the pool: an engine Connection around it would add nothing but its own cost.
        raw = await self._db.writer.raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        settled = False
        try:
            value = await self._run_postgresql(driver, script())
            settled = True
            return value
        except Exception:
            settled = True  # the transaction's own exit rolled it back
            raise
        finally:
            # Cancelled mid-statement, the server may still be answering it (a BEGIN whose reply
            # comes after the connection looks idle). Handed on, the next trip's BEGIN would only open
            # a savepoint in that transaction, and its commit would be lost: close such a connection.
            await greenlet_spawn(self._give_back if settled else _discard, raw, driver)

    def _give_back(self, raw: PoolProxiedConnection, driver: Any) -> None:
        """Return the connection to the pool (in a greenlet: its reset may need to await the driver).
        A connection still inside a transaction (a cancelled script whose rollback could not run) is
        discarded: handed on, the next BEGIN on it would only open a savepoint."""
        if driver.is_in_transaction():
            raw.invalidate()
        raw.close()

    async def _run_postgresql(self, conn: Any, script: Script[T]) -> T:
        try:
            async with conn.transaction():
                step, value = advance(script, None)
                while step is not None:
                    args = [step.params[k] for k in step.query.names]
                    try:
                        rows = await conn.fetch(step.query.postgresql, *args)
                    except Exception as exc:
                        # As through SQLAlchemy: server errors (asyncpg's carry a SQLSTATE) become
                        # DBAPIErrors, integrity violations (class 23) IntegrityErrors.
                        state = str(getattr(exc, "sqlstate", "") or "")
                        if state:
                            error = IntegrityError if state.startswith("23") else DBAPIError
                            raise error(step.query.postgresql, args, exc) from exc
                        raise
                    step, value = advance(script, list(rows))
            return value
        finally:
            script.close()


def _discard(raw: PoolProxiedConnection, _driver: Any) -> None:
    raw.invalidate()
    raw.close()


def _processor(type_: Any, dialect: Dialect, *, bind: bool) -> Callable[[Any], Any]:
    impl = type_.dialect_impl(dialect)
    process = impl.bind_processor(dialect) if bind else impl.result_processor(dialect, None)
    return process if process is not None else (lambda value: value)
