"""Invariant 4: tampering with any audit row (update, delete, insert) is detected by ``verify``, which
names the row; and concurrent appends never fork the chain (a regression of the seed project)."""

from __future__ import annotations

import asyncio

from sqlalchemy import delete, select, text, update

from alfred.ledger import AuditEvent, Ledger
from alfred.ledger.audit import canonical_content, chain_hash
from alfred.ledger.tables import AuditHead, AuditRow

from .conftest import Backend


async def _chain(ledger: Ledger, rows: int = 6) -> None:
    for i in range(rows):
        await ledger.audit.record(
            AuditEvent(
                "test.event",
                f"event {i}",
                user_id=i,
                details={"n": i, "note": "ünïcode"},
                ip_address="10.0.0.1",
            )
        )


async def test_intact_chain_verifies(ledger: Ledger) -> None:
    await _chain(ledger)
    verdict = await ledger.audit.verify()
    assert verdict.ok and verdict.rows_checked == 6 and verdict.head_seq == 6
    assert verdict.problem is None


async def test_an_altered_row_is_named(ledger: Ledger) -> None:
    await _chain(ledger)
    async with ledger.db.transaction() as session:
        await session.execute(
            update(AuditRow).where(AuditRow.seq == 3).values(details={"n": 999, "note": "ünïcode"})
        )
    verdict = await ledger.audit.verify()
    assert (verdict.ok, verdict.problem, verdict.seq) == (False, "altered", 3)


async def test_an_altered_and_rehashed_row_is_named(ledger: Ledger) -> None:
    await _chain(ledger)
    async with ledger.db.transaction() as session:
        row = (await session.execute(select(AuditRow).where(AuditRow.seq == 4))).scalar_one()
        content = canonical_content(
            4, row.event_type, "something else", row.user_id, row.details, row.ip_address, row.created_at
        )
        await session.execute(
            update(AuditRow)
            .where(AuditRow.seq == 4)
            .values(action="something else", hash=chain_hash(row.previous_hash, content))
        )
    verdict = await ledger.audit.verify()
    assert (verdict.problem, verdict.seq) == ("altered", 4)


async def test_a_deleted_row_is_named(ledger: Ledger) -> None:
    await _chain(ledger)
    async with ledger.db.transaction() as session:
        await session.execute(delete(AuditRow).where(AuditRow.seq == 2))
    verdict = await ledger.audit.verify()
    assert (verdict.problem, verdict.seq) == ("deleted", 2)


async def test_a_deleted_tail_is_named(ledger: Ledger) -> None:
    await _chain(ledger)
    async with ledger.db.transaction() as session:
        await session.execute(delete(AuditRow).where(AuditRow.seq >= 5))
    verdict = await ledger.audit.verify()
    assert (verdict.problem, verdict.seq) == ("deleted", 5)


async def test_an_inserted_row_is_named(ledger: Ledger) -> None:
    """A forged row slipped in at seq 3, with later rows renumbered and a self-consistent hash."""
    await _chain(ledger)
    async with ledger.db.transaction() as session:
        for seq in range(6, 2, -1):  # from the top, so no seq collides on the way
            await session.execute(update(AuditRow).where(AuditRow.seq == seq).values(seq=seq + 1))
        before = (await session.execute(select(AuditRow).where(AuditRow.seq == 2))).scalar_one()
        forged = AuditRow(
            seq=3, event_type="test.event", action="forged", user_id=1, details={}, ip_address=None,
            previous_hash=before.hash, created_at=before.created_at, hash="",
        )  # fmt: skip
        forged.hash = chain_hash(
            before.hash, canonical_content(3, "test.event", "forged", 1, {}, None, before.created_at)
        )
        session.add(forged)
    verdict = await ledger.audit.verify()
    assert (verdict.problem, verdict.seq) == ("inserted", 3)


async def test_a_row_appended_behind_the_heads_back_is_named(ledger: Ledger) -> None:
    await _chain(ledger)
    async with ledger.db.transaction() as session:
        last = (await session.execute(select(AuditRow).where(AuditRow.seq == 6))).scalar_one()
        content = canonical_content(7, "test.event", "forged", None, {}, None, last.created_at)
        session.add(
            AuditRow(
                seq=7, event_type="test.event", action="forged", user_id=None, details={}, ip_address=None,
                previous_hash=last.hash, hash=chain_hash(last.hash, content), created_at=last.created_at,
            )
        )  # fmt: skip
    verdict = await ledger.audit.verify()
    assert (verdict.problem, verdict.seq) == ("inserted", 7)


async def test_concurrent_appends_never_fork(backend: Backend, ledger: Ledger) -> None:
    other = backend.ledger()
    try:
        gateways = [ledger, other]
        await asyncio.gather(
            *(
                gateways[i % 2].audit.record(AuditEvent("test.race", f"append {i}", details={"i": i}))
                for i in range(60)
            )
        )
    finally:
        await other.close()
    async with ledger.db.session() as session:
        rows = (await session.execute(select(AuditRow).order_by(AuditRow.seq))).scalars().all()
        head = (await session.execute(select(AuditHead))).scalar_one()
        links = (
            await session.execute(text("SELECT COUNT(DISTINCT previous_hash) FROM audit_log"))
        ).scalar_one()
    assert [r.seq for r in rows] == list(range(1, 61))
    assert links == 60  # a fork would show as two rows naming the same predecessor
    assert (head.seq, head.hash) == (60, rows[-1].hash)
    assert sorted(r.details["i"] for r in rows) == list(range(60))
    assert (await ledger.audit.verify()).ok
