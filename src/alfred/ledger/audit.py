"""The tamper-evident audit log: a hash chain over every governance action.

Each row's ``hash`` is ``sha256(previous_hash + canonical JSON of the row's content)`` where the content
is its seq, event type, user, action, details, IP address and time. Sequence numbers are dense (1, 2, 3…)
and a single head row records the last seq and hash, so ``verify`` can tell an altered row (its hash no
longer matches), an inserted one (its successor still links past it), a deleted one (a gap, or a head
pointing beyond the last row) from a healthy chain. Appends lock the head row (``SELECT … FOR UPDATE`` on
PostgreSQL; SQLite's single writer does the same), so concurrent appends queue instead of forking.

A hash chain proves that history was not edited by someone who did not rewrite everything after the
edit as well; publishing the head hash elsewhere now and then closes that gap.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from alfred.ledger.tables import GENESIS_HASH, AuditHead, AuditRow, utc_now
from alfred.state.db import Database

Clock = Callable[[], datetime]
Problem = Literal["altered", "inserted", "deleted"]


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """What happened, to be appended: ``details`` must be JSON-serialisable (no floats for money)."""

    event_type: str
    action: str
    user_id: int | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    ip_address: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """A stored audit row, as the admin API shows it."""

    seq: int
    event_type: str
    action: str
    user_id: int | None
    details: dict[str, Any]
    ip_address: str | None
    previous_hash: str
    hash: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AuditVerdict:
    """The result of walking the chain: ``ok``, or the first bad row and what happened to it."""

    ok: bool
    rows_checked: int
    head_seq: int
    head_hash: str
    problem: Problem | None = None
    seq: int | None = None
    message: str = "chain intact"


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_content(
    seq: int,
    event_type: str,
    action: str,
    user_id: int | None,
    details: Mapping[str, Any],
    ip_address: str | None,
    created_at: datetime,
) -> str:
    """The exact text that is hashed: sorted keys, no whitespace, UTF-8 kept as is."""
    body = {
        "seq": seq,
        "event_type": event_type,
        "action": action,
        "user_id": user_id,
        "details": details,
        "ip_address": ip_address,
        "created_at": _timestamp(created_at),
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def chain_hash(previous_hash: str, content: str) -> str:
    return hashlib.sha256((previous_hash + content).encode("utf-8")).hexdigest()


def _row_hash(row: AuditRow) -> str:
    content = canonical_content(
        row.seq, row.event_type, row.action, row.user_id, row.details, row.ip_address, row.created_at
    )
    return chain_hash(row.previous_hash, content)


def _entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        row.seq, row.event_type, row.action, row.user_id, dict(row.details), row.ip_address,
        row.previous_hash, row.hash, row.created_at,
    )  # fmt: skip


class AuditLog:
    """Appends hash-chained audit rows, lists them, and verifies the chain end to end."""

    def __init__(self, db: Database, *, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock

    async def append(self, session: AsyncSession, event: AuditEvent) -> AuditEntry:
        """Append inside the caller's transaction, so the action and its record commit together."""
        head = (
            await session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update())
        ).scalar_one_or_none()
        if head is None:
            raise RuntimeError("the audit head row is missing: run the migrations (alfred migrate)")
        seq = head.seq + 1
        # Whole microseconds and UTC, so the time hashes the same after a round trip through any database.
        created_at = self._clock().astimezone(UTC)
        details = json.loads(json.dumps(dict(event.details), allow_nan=False))
        content = canonical_content(
            seq, event.event_type, event.action, event.user_id, details, event.ip_address, created_at
        )
        digest = chain_hash(head.hash, content)
        row = AuditRow(
            seq=seq,
            event_type=event.event_type,
            action=event.action,
            user_id=event.user_id,
            details=details,
            ip_address=event.ip_address,
            previous_hash=head.hash,
            hash=digest,
            created_at=created_at,
        )
        session.add(row)
        await session.flush()
        await session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=seq, hash=digest))
        return _entry(row)

    async def record(self, event: AuditEvent) -> AuditEntry:
        """Append in a transaction of its own."""
        async with self._db.transaction() as session:
            return await self.append(session, event)

    async def recent(
        self,
        *,
        limit: int = 100,
        before_seq: int | None = None,
        user_id: int | None = None,
        event_type: str | None = None,
    ) -> list[AuditEntry]:
        """Newest first; page with ``before_seq``."""
        query = select(AuditRow).order_by(AuditRow.seq.desc()).limit(limit)
        if before_seq is not None:
            query = query.where(AuditRow.seq < before_seq)
        if user_id is not None:
            query = query.where(AuditRow.user_id == user_id)
        if event_type is not None:
            query = query.where(AuditRow.event_type == event_type)
        async with self._db.replica() as session:
            rows = (await session.execute(query)).scalars().all()
            return [_entry(r) for r in rows]

    async def verify(self, *, batch: int = 1000) -> AuditVerdict:
        """Walk the whole chain in seq order and name the first row that was altered, inserted or deleted."""
        async with self._db.session() as session:
            if self._db.dialect == "postgresql":
                # One snapshot for the head and every row, while appends go on.
                await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            head = (await session.execute(select(AuditHead).where(AuditHead.id == 1))).scalar_one_or_none()
            if head is None:
                return AuditVerdict(
                    False, 0, 0, GENESIS_HASH, "deleted", None, "the audit head row is missing"
                )
            walker = _ChainWalker()
            last_seq = 0
            while True:
                rows = (
                    (
                        await session.execute(
                            select(AuditRow)
                            .where(AuditRow.seq > last_seq)
                            .order_by(AuditRow.seq)
                            .limit(batch)
                        )
                    )
                    .scalars()
                    .all()
                )
                if not rows:
                    break
                problem = walker.feed(rows)
                if problem is not None:
                    return walker.verdict(head, *problem)
                last_seq = rows[-1].seq
                session.expunge_all()
            problem = walker.finish(head)
            if problem is not None:
                return walker.verdict(head, *problem)
            return walker.verdict(head, None, None, "chain intact")


class _ChainWalker:
    """The checks of ``verify``, fed rows in seq order."""

    def __init__(self) -> None:
        self.count = 0
        self.prev_seq = 0
        self.prev_hash = GENESIS_HASH
        self.prev_prev_hash: str | None = None

    def feed(self, rows: Sequence[AuditRow]) -> tuple[Problem, int, str] | None:
        for row in rows:
            problem = self._check(row)
            if problem is not None:
                return problem
            self.count += 1
            self.prev_prev_hash, self.prev_hash, self.prev_seq = self.prev_hash, row.hash, row.seq
        return None

    def _check(self, row: AuditRow) -> tuple[Problem, int, str] | None:
        expected = self.prev_seq + 1
        if row.seq != expected:
            missing = f"{expected}" if row.seq == expected + 1 else f"{expected}..{row.seq - 1}"
            return (
                "deleted",
                expected,
                f"row {missing} is missing (the chain jumps from {self.prev_seq} to {row.seq})",
            )
        if row.previous_hash != self.prev_hash:
            if row.previous_hash == self.prev_prev_hash:
                # This row still links to the one before its predecessor: the predecessor was slipped in.
                return "inserted", self.prev_seq, f"row {self.prev_seq} was inserted into the chain"
            if _row_hash(row) != row.hash:
                return (
                    "altered",
                    row.seq,
                    f"row {row.seq} was altered (its hash no longer matches its content)",
                )
            return (
                "altered",
                self.prev_seq,
                f"row {self.prev_seq} was altered and re-hashed (row {row.seq} links to a different hash)",
            )
        if _row_hash(row) != row.hash:
            return "altered", row.seq, f"row {row.seq} was altered (its hash no longer matches its content)"
        return None

    def finish(self, head: AuditHead) -> tuple[Problem, int, str] | None:
        if self.prev_seq < head.seq:
            return (
                "deleted",
                self.prev_seq + 1,
                f"rows {self.prev_seq + 1}..{head.seq} are missing from the end",
            )
        if self.prev_seq > head.seq:
            return "inserted", head.seq + 1, f"row {head.seq + 1} was appended behind the head's back"
        if self.prev_hash != head.hash:
            return (
                "altered",
                self.prev_seq,
                f"row {self.prev_seq} was altered and re-hashed (the head disagrees)",
            )
        return None

    def verdict(
        self, head: AuditHead, problem: Problem | None, seq: int | None, message: str
    ) -> AuditVerdict:
        return AuditVerdict(problem is None, self.count, head.seq, head.hash, problem, seq, message)
