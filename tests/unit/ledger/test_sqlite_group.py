"""The SQLite group runner on a plain sqlite3 connection: a group where every script succeeds commits
without a savepoint per script; one failure sends the whole group through savepoints, so only the
failed script's writes are lost, and each caller still gets its own outcome."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from alfred.ledger.scripts import Fallback, Query, Script
from alfred.ledger.sqlite_group import SqliteGroupRunner

ADD = Query("UPDATE counters SET n = n + :by WHERE id = 1 RETURNING n")
LOG = Query("INSERT INTO entries (name) VALUES (:name)")


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    connection.execute("CREATE TABLE counters (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
    connection.execute("CREATE TABLE entries (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL)")
    connection.execute("INSERT INTO counters VALUES (1, 0)")
    try:
        yield connection
    finally:
        connection.close()


def add(name: str, by: int = 1, then: Exception | None = None) -> Script[int]:
    yield LOG(name=name)
    ((n,),) = yield ADD(by=by)
    if then is not None:
        raise then
    return int(n)


def statements(conn: sqlite3.Connection) -> list[str]:
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    return seen


def runner() -> SqliteGroupRunner:
    return SqliteGroupRunner(lambda v: v, lambda v: v, busy_timeout_s=0.1)


def counted(conn: sqlite3.Connection) -> tuple[int, list[str]]:
    (n,) = conn.execute("SELECT n FROM counters").fetchone()
    return n, [name for (name,) in conn.execute("SELECT name FROM entries ORDER BY id")]


def test_a_group_that_fails_nowhere_commits_without_savepoints(conn: sqlite3.Connection) -> None:
    seen = statements(conn)
    outcomes = runner().run(conn, [lambda i=i: add(f"r{i}") for i in range(5)])  # type: ignore[misc]
    assert [(o.ok, o.value) for o in outcomes] == [(True, i) for i in range(1, 6)]
    assert not any("SAVEPOINT" in s for s in seen)
    assert [s for s in seen if s in ("BEGIN IMMEDIATE", "COMMIT")] == ["BEGIN IMMEDIATE", "COMMIT"]
    assert counted(conn) == (5, ["r0", "r1", "r2", "r3", "r4"])


@pytest.mark.parametrize(
    "failing",
    [
        lambda: add("bad", then=Fallback()),
        lambda: add("bad", then=RuntimeError("boom")),
        lambda: add("r0"),  # a duplicate name: the unique index refuses it
    ],
    ids=["fallback", "error", "integrity"],
)
def test_one_failure_loses_only_that_scripts_writes(conn: sqlite3.Connection, failing: Any) -> None:
    seen = statements(conn)
    scripts = [lambda: add("r0"), lambda: add("r1", by=10), failing, lambda: add("r3", by=100)]
    outcomes = runner().run(conn, scripts)
    assert [o.ok for o in outcomes] == [True, True, False, True]
    assert [o.value for o in outcomes if o.ok] == [1, 11, 111]
    assert isinstance(outcomes[2].value, Exception)
    assert counted(conn) == (111, ["r0", "r1", "r3"])
    assert any("SAVEPOINT" in s for s in seen)  # the second pass went script by script
    assert seen.count("COMMIT") == 1 and not conn.in_transaction


def test_a_lone_script_runs_without_savepoints(conn: sqlite3.Connection) -> None:
    seen = statements(conn)
    (outcome,) = runner().run(conn, [lambda: add("only", then=RuntimeError("boom"))])
    assert not outcome.ok and not any("SAVEPOINT" in s for s in seen)
    assert counted(conn) == (0, [])
