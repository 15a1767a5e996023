"""Running a group of request-path scripts (``alfred.ledger.scripts``) in one SQLite transaction, on a
plain sqlite3 connection: what the group commit (``alfred.ledger.group_commit``) hands each group to,
on the event loop for a lone script or on its writer thread for a group.

A group first runs straight through, all scripts in one transaction: the usual case, where none
fails. If one fails, that transaction is rolled back and the group runs again with each script in
its own savepoint, so one script's failure (a duplicate request id, a ``Fallback``) rolls back only
its own writes (a savepoint and its release would be two more statements per script, a quarter of a
settle's). Parameters are bound the way the ORM would bind them (timestamps and UUIDs through the
column types' processors), and errors surface as SQLAlchemy's.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError

from alfred.ledger.scripts import Script

T = TypeVar("T")

# Parameter types sqlite3 takes as they are (anything else may need the column type's conversion).
_PLAIN = frozenset({int, str, float, bytes, bool, type(None)})
# Sleeps between tries for a write lock another writer holds: SQLite's own busy handler's, in seconds.
BUSY_SLEEPS_S = (0.001, 0.002, 0.005, 0.010, 0.015, 0.020, 0.025)


@dataclass(slots=True)
class Outcome:
    """One script's end: its result (``ok``) or the exception it raised."""

    ok: bool
    value: Any


class SqliteGroupRunner:
    """Runs scripts in one transaction on a sqlite3 connection (each in a savepoint once one fails)."""

    def __init__(
        self, bind_time: Callable[[Any], Any], bind_uuid: Callable[[Any], Any], busy_timeout_s: float
    ) -> None:
        self._bind_time = bind_time
        self._bind_uuid = bind_uuid
        self._busy_timeout_s = busy_timeout_s

    def begin_waiting(self, conn: sqlite3.Connection) -> None:
        """``BEGIN IMMEDIATE`` on the writer thread, retrying while another writer holds the lock, as
        SQLite's busy handler would, until the busy timeout; then the last error is raised."""
        deadline = time.monotonic() + self._busy_timeout_s
        tries = 0
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(BUSY_SLEEPS_S[min(tries, len(BUSY_SLEEPS_S) - 1)])
            tries += 1

    def run(
        self, conn: sqlite3.Connection, scripts: list[Callable[[], Script[Any]]], *, begun: bool = False
    ) -> list[Outcome]:
        """Run ``scripts`` in one transaction; one outcome per script. Several go straight through
        first; if one of them fails, all run again, each in a savepoint. If a failing statement made
        SQLite roll the whole transaction back (it does on some errors: a full disk, an interrupt),
        the scripts that had succeeded in it are run again in a new one."""
        if len(scripts) > 1:
            # Most groups fail nowhere: try the whole group without a savepoint per script (two
            # statements less each); if any script fails, roll it all back and go one by one.
            refused = None if begun else self._begin(conn)
            if refused is not None:
                return [Outcome(False, refused) for _ in scripts]
            unguarded = self._run_unguarded(conn, scripts)
            if unguarded is not None:
                return unguarded
            begun = False
        outcomes: list[Outcome | None] = [None] * len(scripts)
        todo = list(range(len(scripts)))
        while todo:
            refused = None if begun else self._begin(conn)  # on the writer thread: waits for the lock
            begun = False  # a redo begins its own
            if refused is not None:
                for i in todo:
                    outcomes[i] = Outcome(False, refused)
                break
            single = len(todo) == 1
            succeeded: list[int] = []
            redo: list[int] = []
            for n, i in enumerate(todo):
                if not single:
                    conn.execute("SAVEPOINT trip")
                try:
                    value = self._steps(conn, scripts[i]())
                except Exception as exc:
                    outcomes[i] = Outcome(False, exc)
                    if not conn.in_transaction:  # SQLite ended the whole transaction
                        redo = succeeded + todo[n + 1 :]
                        break
                    if single:  # nothing else in this transaction: roll all of it back
                        conn.execute("ROLLBACK")
                        break
                    conn.execute("ROLLBACK TO trip")
                    conn.execute("RELEASE trip")
                    continue
                if not single:
                    conn.execute("RELEASE trip")
                outcomes[i] = Outcome(True, value)
                succeeded.append(i)
            if redo:
                todo = redo
                continue
            if not conn.in_transaction:  # a lone script failed and was rolled back
                break
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                error = DBAPIError.instance("COMMIT", {}, exc, sqlite3.Error)
                for i in succeeded:
                    outcomes[i] = Outcome(False, error)
            break
        assert all(o is not None for o in outcomes)
        return outcomes  # type: ignore[return-value]

    def _begin(self, conn: sqlite3.Connection) -> Exception | None:
        """Begin a write transaction, waiting for the lock; the error (as SQLAlchemy's) if none began."""
        try:
            self.begin_waiting(conn)
        except sqlite3.Error as exc:
            return DBAPIError.instance("BEGIN IMMEDIATE", {}, exc, sqlite3.Error)
        return None

    def _run_unguarded(
        self, conn: sqlite3.Connection, scripts: list[Callable[[], Script[Any]]]
    ) -> list[Outcome] | None:
        """Every script in the transaction the caller began, and the COMMIT; their outcomes, or None
        with the transaction rolled back if any script (or the COMMIT) failed."""
        values: list[Any] = []
        try:
            for make in scripts:
                values.append(self._steps(conn, make()))
            conn.execute("COMMIT")
        except Exception:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return None
        return [Outcome(True, value) for value in values]

    def _steps(self, conn: sqlite3.Connection, script: Script[T]) -> T:
        """Run one script's statements (inside a transaction the caller opened); its result."""
        sql = ""
        params: dict[str, Any] = {}
        bound: dict[Any, Any] = {}  # the script's timestamps and ids, each converted once
        try:
            try:
                step = script.send(None)  # type: ignore[arg-type]
                while True:
                    sql = step.query.sqlite
                    # sqlite3 takes what the statement names from the mapping and ignores the rest.
                    params = {
                        k: v if type(v) in _PLAIN else self._sqlite_value(v, bound)
                        for k, v in step.params.items()
                    }
                    step = script.send(conn.execute(sql, params).fetchall())
            except StopIteration as done:
                result: T = done.value
                return result
        except sqlite3.Error as exc:
            # The same exception classes as through SQLAlchemy (IntegrityError, OperationalError…).
            raise DBAPIError.instance(sql, params, exc, sqlite3.Error) from exc
        finally:
            script.close()

    def _sqlite_value(self, value: Any, bound: dict[Any, Any]) -> Any:
        if isinstance(value, datetime | uuid.UUID):
            converted = bound.get(value)
            if converted is None:
                bind = self._bind_time if isinstance(value, datetime) else self._bind_uuid
                converted = bound[value] = bind(value)
            return converted
        return value


def _busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc)
