"""The one-trip transactions behind reserve, settle and release (``alfred.ledger.trips``), on SQLite and
PostgreSQL: a script commits all of its statements or none, and reports duplicates the way the ORM does."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from alfred.errors import InsufficientQuotaError
from alfred.ledger import Ledger, hotpath, hotpath_pg
from alfred.ledger.group_commit import CHECKPOINT_EVERY, GroupCommit
from alfred.ledger.trips import Fallback, Query, Script, Trips
from alfred.state.db import Database, DatabaseOptions

from .conftest import Backend
from .seed import wallet

T = TypeVar("T")

RESERVE = Query("UPDATE wallets SET reserved = reserved + :amount WHERE id = :id RETURNING reserved")
READ = Query("SELECT balance, reserved FROM wallets WHERE id = :id")
INSERT = Query("""
    INSERT INTO reservations (request_id, wallet_id, source, amount, state, created_at, expires_at)
    VALUES (:request_id, :wallet_id, 'direct', 1, 'open', :now, :now)
    RETURNING expires_at
""")


def sqlite_writer(trips: Trips) -> GroupCommit:
    assert trips.group_commit is not None
    return trips.group_commit


def hold_then(wallet_id: int, then: Exception | None) -> Script[int]:
    (reserved,) = (yield RESERVE(amount=10, id=wallet_id))[0]
    if then is not None:
        raise then
    return int(reserved)


async def test_a_script_commits_everything_or_nothing(ledger: Ledger) -> None:
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=1_000)
    trips = Trips(ledger.db)
    assert await trips.run(lambda: hold_then(wallet(user), None)) == 10
    for signal in (Fallback(), RuntimeError("boom")):
        with pytest.raises(type(signal)):
            await trips.run(lambda s=signal: hold_then(wallet(user), s))  # type: ignore[misc]
    assert await trips.run(lambda: hold_then(wallet(user), None)) == 20  # the two failed ones left nothing

    def read() -> Script[tuple[int, int]]:
        ((balance, reserved),) = yield READ(id=wallet(user))
        return int(balance), int(reserved)

    assert await trips.run(read) == (1_000, 20)
    info = await ledger.accounts.get(wallet(user))
    assert info.reserved == 20


async def test_a_duplicate_is_sqlalchemys_integrity_error_and_rolls_back(ledger: Ledger) -> None:
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=1_000)
    trips = Trips(ledger.db)
    now = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)

    def reserve(request_id: str) -> Script[datetime]:
        yield RESERVE(amount=1, id=wallet(user))
        ((expires_at,),) = yield INSERT(request_id=request_id, wallet_id=wallet(user), now=now)
        return trips.time(expires_at)

    assert await trips.run(lambda: reserve("same")) == now  # timestamps round-trip exactly, in UTC
    with pytest.raises(IntegrityError):
        await trips.run(lambda: reserve("same"))
    assert (await ledger.accounts.get(wallet(user))).reserved == 1  # the second hold was rolled back
    found = await ledger.wallets.find_hold("same")
    assert found is not None and found.expires_at == now


def tap(inner: Script[T], seen: list[Query]) -> Script[T]:
    """Pass a script's steps through, noting each statement it sends."""
    rows = None
    while True:
        try:
            step = inner.send(rows)  # type: ignore[arg-type]
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        seen.append(step.query)
        rows = yield step


async def test_the_common_reserve_and_settle_take_one_statement_on_postgresql(
    backend: Backend, ledger: Ledger
) -> None:
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=1_000)
    key = await ledger.keys.create(user.id, "ci", budget=900)
    trips = Trips(ledger.db)
    now = datetime.now(UTC)
    seen: list[Query] = []
    held = await trips.run(
        lambda: tap(
            hotpath.hold_personal(
                backend.name, user.id, "r1", 400, key.info.id, "m", now, now + timedelta(minutes=1)
            ),
            seen,
        )
    )
    assert (held.wallet_id, held.left) == (wallet(user), 600)
    request = hotpath.SettleRequest("r1", 300, uuid.uuid4(), now, "charge", "m", "p", 10, 20)
    charge = await trips.run(lambda: tap(hotpath.settle(trips, request), seen))
    assert charge is not None and (charge.cost, charge.charged) == (300, 300)
    if backend.name == "postgresql":
        assert seen == [hotpath_pg.HOLD_PERSONAL, hotpath_pg.SETTLE_OPEN]
    else:
        assert len(seen) == 3 + 6  # hold, reservation, key; claim, debit, transaction, entries, key, user
    info = await ledger.accounts.get(wallet(user))
    assert (info.balance, info.reserved) == (700, 0)
    assert (await ledger.keys.get(key.info.id)).spent == 300
    assert (await ledger.directory.get_user(user.id)).used_tokens == 30
    assert (await ledger.check()).healthy


async def test_the_fast_hold_leaves_nothing_when_it_falls_back_or_is_refused(ledger: Ledger) -> None:
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=1_000, soft_limit=300)
    key = await ledger.keys.create(user.id, "ci", budget=500)
    fast = ledger.wallets.hold_personal_fast
    with pytest.raises(Fallback):
        await fast(user.id, "too-much", 1_001)
    with pytest.raises(Fallback):
        await fast(user.id, "crosses-the-soft-limit", 800)  # needs its audit row: the ORM path's job
    with pytest.raises(InsufficientQuotaError):
        await fast(user.id, "over-the-key-budget", 600, key_id=key.info.id)
    info = await ledger.accounts.get(wallet(user))
    assert info.reserved == 0
    assert await ledger.wallets.find_hold("over-the-key-budget") is None
    hold = await fast(user.id, "fits", 500, key_id=key.info.id)  # the whole key budget: none leaked
    assert (hold.source, hold.amount, hold.soft_limit_warning) == ("personal", 500, False)
    assert (await ledger.accounts.get(wallet(user))).reserved == 500


async def test_sqlite_checkpoints_the_wal_in_the_background(backend: Backend, ledger: Ledger) -> None:
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=10**12)
    trips = Trips(ledger.db)
    for _ in range(CHECKPOINT_EVERY):
        await trips.run(lambda: hold_then(wallet(user), None))
    if backend.name == "postgresql":
        assert trips.group_commit is None  # PostgreSQL commits (and checkpoints) on its own
        return
    for _ in range(200):  # the checkpoint runs beside the writer; give it time on a loaded machine
        if sqlite_writer(trips).checkpointed is not None:
            break
        await asyncio.sleep(0.05)
    assert sqlite_writer(trips).checkpointed is not None
    busy, frames, done = sqlite_writer(trips).checkpointed
    assert busy == 0 and frames > 0 and done == frames


async def test_concurrent_scripts_commit_together_and_each_fails_alone(
    backend: Backend, ledger: Ledger
) -> None:
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=1_000)
    trips = Trips(ledger.db)
    now = datetime(2030, 1, 2, tzinfo=UTC)

    def reserve(request_id: str) -> Script[int]:
        ((reserved,),) = yield RESERVE(amount=1, id=wallet(user))
        yield INSERT(request_id=request_id, wallet_id=wallet(user), now=now)
        return int(reserved)

    scripts = [lambda: hold_then(wallet(user), None) for _ in range(12)]
    scripts += [lambda: hold_then(wallet(user), Fallback()), lambda: hold_then(wallet(user), RuntimeError())]
    scripts += [lambda: reserve("twice"), lambda: reserve("twice")]
    outcomes = await asyncio.gather(*(trips.run(s) for s in scripts), return_exceptions=True)
    assert all(isinstance(o, int) for o in outcomes[:12])
    assert isinstance(outcomes[12], Fallback) and isinstance(outcomes[13], RuntimeError)
    assert sorted(type(o).__name__ for o in outcomes[14:]) == ["IntegrityError", "int"]
    # Twelve holds of 10 and one of 1 stayed; the failed scripts left nothing, not even their first UPDATE.
    assert (await ledger.accounts.get(wallet(user))).reserved == 12 * 10 + 1
    if backend.name == "sqlite":
        assert sqlite_writer(trips).grouped == len(scripts) and sqlite_writer(trips).groups < len(scripts)


async def test_a_caller_cancelled_before_its_group_runs_writes_nothing(
    backend: Backend, ledger: Ledger
) -> None:
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=1_000)
    trips = Trips(ledger.db)
    first = asyncio.create_task(trips.run(lambda: hold_then(wallet(user), None)))
    await asyncio.sleep(0)  # leading its group (SQLite), or checking out a connection
    second = asyncio.create_task(trips.run(lambda: hold_then(wallet(user), None)))
    await asyncio.sleep(0)  # waiting for the next group (SQLite), or checking out a connection
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    assert await first == 10
    assert await trips.run(lambda: hold_then(wallet(user), None)) == 20
    assert (await ledger.accounts.get(wallet(user))).reserved == 20


async def test_sqlite_redoes_a_group_whose_transaction_a_failure_ended(
    backend: Backend, ledger: Ledger
) -> None:
    if backend.name != "sqlite":
        pytest.skip("SQLite ends a whole transaction on some errors; PostgreSQL keeps a failed savepoint's")
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=1_000)
    trips = Trips(ledger.db)

    def ends_the_transaction() -> Script[int]:
        yield RESERVE(amount=500, id=wallet(user))
        yield Query("ROLLBACK")()  # what SQLite does by itself on a full disk or an interrupt
        raise RuntimeError("disk full")

    outcomes = await asyncio.gather(
        trips.run(lambda: hold_then(wallet(user), None)),
        trips.run(lambda: hold_then(wallet(user), None)),
        trips.run(ends_the_transaction),
        trips.run(lambda: hold_then(wallet(user), None)),
        return_exceptions=True,
    )
    assert outcomes[:2] == [10, 20] and isinstance(outcomes[2], RuntimeError) and outcomes[3] == 30
    assert (await ledger.accounts.get(wallet(user))).reserved == 30
    assert (sqlite_writer(trips).groups, sqlite_writer(trips).grouped) == (1, 4)


async def test_a_lone_script_waits_off_the_loop_while_another_process_writes(
    backend: Backend, ledger: Ledger
) -> None:
    if backend.name != "sqlite":
        pytest.skip("only SQLite runs a lone script on the event loop")
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=1_000)
    trips = Trips(ledger.db)
    assert await trips.run(lambda: hold_then(wallet(user), None)) == 10  # alone: committed inline
    other = sqlite3.connect(ledger.db.writer.url.database or "", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process's write transaction holds the lock
        blocked = asyncio.create_task(trips.run(lambda: hold_then(wallet(user), None)))
        loop = asyncio.get_running_loop()
        gaps = []
        for _ in range(5):  # the loop goes on while the script waits for the lock (busy_timeout: 10 s)
            before = loop.time()
            await asyncio.sleep(0.01)
            gaps.append(loop.time() - before)
        assert not blocked.done() and max(gaps) < 1.0
        other.execute("COMMIT")
        assert await asyncio.wait_for(blocked, 10) == 20
    finally:
        other.close()
    assert (await ledger.accounts.get(wallet(user))).reserved == 20


async def test_a_leader_cancelled_before_it_commits_strands_no_one(backend: Backend, ledger: Ledger) -> None:
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=1_000)
    trips = Trips(ledger.db)
    first = asyncio.create_task(trips.run(lambda: hold_then(wallet(user), None)))
    second = asyncio.create_task(trips.run(lambda: hold_then(wallet(user), None)))
    await asyncio.sleep(0)  # SQLite: the first leads (one turn for others to join), the second joins it
    first.cancel()
    assert await asyncio.wait_for(second, 10) == 10
    with pytest.raises(asyncio.CancelledError):
        await first
    assert (await ledger.accounts.get(wallet(user))).reserved == 10


async def test_the_group_commit_and_the_orms_writer_take_turns_at_sqlites_lock(
    backend: Backend, ledger: Ledger
) -> None:
    """On SQLite the group commit writes on a connection of its own: an ORM transaction in the same
    process holding the write lock makes its scripts wait (off the loop), not fail, and the reverse."""
    if backend.name != "sqlite":
        pytest.skip("PostgreSQL's writers share one pool")
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=1_000)
    trips = Trips(ledger.db)
    try:
        async with ledger.db.transaction() as session:  # BEGIN IMMEDIATE on the pool's writer
            await session.execute(
                text("UPDATE wallets SET reserved = reserved + 1 WHERE id = :id"), {"id": wallet(user)}
            )
            blocked = asyncio.create_task(trips.run(lambda: hold_then(wallet(user), None)))
            await asyncio.sleep(0.1)
            assert not blocked.done()  # waiting for the lock the ORM's transaction holds
        assert await asyncio.wait_for(blocked, 10) == 11  # it saw the ORM's committed write

        # Both at once: each commits, in some order, nothing lost.
        async def orm_hold() -> None:
            async with ledger.db.transaction() as session:
                await session.execute(
                    text("UPDATE wallets SET reserved = reserved + 100 WHERE id = :id"), {"id": wallet(user)}
                )

        await asyncio.gather(
            *(trips.run(lambda: hold_then(wallet(user), None)) for _ in range(20)), orm_hold()
        )
        assert (await ledger.accounts.get(wallet(user))).reserved == 11 + 20 * 10 + 100
    finally:
        await trips.close()


async def test_a_group_gives_up_on_a_lock_held_past_the_busy_timeout(
    backend: Backend, ledger: Ledger
) -> None:
    if backend.name != "sqlite":
        pytest.skip("PostgreSQL waits on row locks, not SQLite's busy timeout")
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=1_000)
    impatient = Database.connect(backend.url, options=DatabaseOptions(busy_timeout_ms=200))
    trips = Trips(impatient)
    other = sqlite3.connect(ledger.db.writer.url.database or "", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(OperationalError, match="locked"):
            await asyncio.wait_for(trips.run(lambda: hold_then(wallet(user), None)), 10)
        other.execute("ROLLBACK")
        assert await trips.run(lambda: hold_then(wallet(user), None)) == 10  # and goes on once it is free
    finally:
        other.close()
        await trips.close()
        await impatient.dispose()
