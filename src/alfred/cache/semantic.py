"""The semantic cache: answer a question from an earlier one that means the same thing.

Lookup embeds the last user turn (off the event loop), searches the per-process index within the
request's scope, and walks the best candidates at or above the threshold: the first one the guard
accepts answers, if its stored answer is still there and fresh. A miss hands back a ``Probe`` (the
vector and signature already computed) so storing the eventual answer costs no second embedding.

Sharing across processes: answers go to the exact cache's stores (L1, and Redis as L2 when
configured) under ``sem:<id>``; the questions (vector, text, scope, times) go to a ``SemanticLog``
(a Redis stream) that every process tails to keep its own index warm. Why Redis rather than
PostgreSQL with pgvector is measured in docs/cache.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import Counter
from dataclasses import dataclass

import msgspec
import numpy as np

from alfred.cache.embedder import Embedder
from alfred.cache.entry import CachedAnswer
from alfred.cache.exact import ExactCache
from alfred.cache.guard import QuestionGuard, Signature
from alfred.cache.index import IndexedQuestion, Vector, VectorIndex
from alfred.cache.keys import SemanticQuery
from alfred.cache.log import SemanticLog
from alfred.state.base import Clock

log = logging.getLogger("alfred.cache")


class SemanticRecord(msgspec.Struct, array_like=True):
    """One stored question as it travels between processes (vector as float16: half the bytes)."""

    entry_id: str
    scope: str
    question: str
    vector: bytes
    stored_at: float
    ttl_s: float


@dataclass(slots=True)
class Probe:
    """A looked-up question: its scope, text and vector (and signature once needed), ready to be stored."""

    query: SemanticQuery
    vector: Vector
    signature: Signature | None = None


@dataclass(frozen=True, slots=True)
class SemanticHit:
    """The answer found, how similar its question was, and which question that was."""

    answer: CachedAnswer
    similarity: float
    question: str


@dataclass(slots=True)
class GuardStats:
    """How often the guard turned down a candidate the cosine alone would have served, by reason."""

    rejected: dict[str, int]


class SemanticCache:
    """Embed → scoped search → threshold → guard → stored answer; see the module docstring."""

    _record_encoder = msgspec.msgpack.Encoder()
    _record_decoder = msgspec.msgpack.Decoder(SemanticRecord)

    def __init__(
        self,
        embedder: Embedder,
        answers: ExactCache,
        *,
        index: VectorIndex,
        guard: QuestionGuard | None = None,
        log_store: SemanticLog | None = None,
        sync_interval_s: float = 1.0,
        candidates: int = 5,
        clock: Clock = time.time,
    ) -> None:
        if index.dimensions != embedder.dimensions:
            raise ValueError("the index and the embedder disagree on vector size")
        self._embedder = embedder
        self._answers = answers
        self._index = index
        self._guard = guard or QuestionGuard()
        self._log = log_store
        self._sync_interval_s = sync_interval_s
        self._candidates = candidates
        self._clock = clock
        self._cursor = "0"
        self._last_sync = float("-inf")
        self._sync_lock = asyncio.Lock()
        self.guard_stats = GuardStats(rejected={})

    @property
    def index(self) -> VectorIndex:
        return self._index

    def count_by_group(self) -> Counter[tuple[str, int]]:
        """This process's indexed questions by (group, generation), expired ones left out."""
        return self._index.count_by_group(self._clock())

    def forget_group(self, group: str, below: int) -> int:
        """Drop this process's questions (and their L1 answers) of ``group`` older than ``below``."""
        removed = self._index.forget_group(group, below)
        self._answers.forget(_answer_key(entry_id) for entry_id in removed)
        return len(removed)

    async def start(self) -> None:
        """Warm this process's index from the shared log (call once at startup)."""
        await self.sync(force=True)

    async def sync(self, *, force: bool = False, page: int = 500, max_pages: int = 1000) -> int:
        """Pull the questions other processes stored since the last pull; returns how many were new."""
        if self._log is None or (self._sync_lock.locked() and not force):
            return 0
        now = time.monotonic()
        if not force and now - self._last_sync < self._sync_interval_s:
            return 0
        added = 0
        async with self._sync_lock:
            self._last_sync = now
            try:
                for _ in range(max_pages):
                    records, self._cursor = await self._log.read(self._cursor, page)
                    added += sum(self._load(raw) for raw in records)
                    if len(records) < page:
                        break
            except Exception:
                log.warning("semantic cache sync failed; this process serves what it has", exc_info=True)
        return added

    async def lookup(self, query: SemanticQuery, threshold: float) -> tuple[SemanticHit | None, Probe]:
        await self.sync()
        vector = (await self._embedder.embed([query.text]))[0]
        probe = Probe(query, vector)
        now = self._clock()
        for score, item in self._index.search(query.scope, vector, k=self._candidates, min_score=threshold):
            if item.expires_at <= now:
                self._index.remove(item.entry_id)
                continue
            if probe.signature is None:
                probe.signature = self._guard.signature(query.text)
            if item.signature is None:
                item.signature = self._guard.signature(item.question)
            reason = self._guard.mismatch(probe.signature, item.signature)
            if reason is not None:
                kind = reason.split(":", 1)[0]
                self.guard_stats.rejected[kind] = self.guard_stats.rejected.get(kind, 0) + 1
                continue
            found = await self._answers.get(_answer_key(item.entry_id))
            if found is None:
                self._index.remove(item.entry_id)  # evicted or expired elsewhere
                continue
            return SemanticHit(found.answer, score, item.question), probe
        return None, probe

    async def store(self, probe: Probe, answer: CachedAnswer) -> bool:
        """Keep ``answer`` for questions like ``probe``'s; True when it was stored."""
        entry_id = _entry_id(probe.query)
        answer.question = probe.query.text
        if not await self._answers.put(_answer_key(entry_id), answer):
            return False
        item = IndexedQuestion(
            entry_id,
            probe.query.scope,
            probe.query.text,
            probe.signature,
            answer.stored_at,
            answer.stored_at + answer.ttl_s,
        )
        self._index.remove(entry_id)  # a re-store replaces the old vector and expiry
        self._index.add(item, probe.vector)
        if self._log is not None:
            record = SemanticRecord(
                entry_id,
                probe.query.scope,
                probe.query.text,
                probe.vector.astype(np.float16).tobytes(),
                answer.stored_at,
                answer.ttl_s,
            )
            try:
                await self._log.append(self._record_encoder.encode(record))
            except Exception:
                log.warning("semantic cache log append failed; entry stays in this process", exc_info=True)
        return True

    def _load(self, raw: bytes) -> bool:
        try:
            record = self._record_decoder.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return False
        expires_at = record.stored_at + record.ttl_s
        if expires_at <= self._clock() or record.entry_id in self._index:
            return False
        vector = np.frombuffer(record.vector, dtype=np.float16).astype(np.float32)
        if vector.shape != (self._index.dimensions,):
            return False  # written by a process with another embedder
        norm = float(np.linalg.norm(vector))
        if norm == 0:
            return False
        item = IndexedQuestion(
            record.entry_id,
            record.scope,
            record.question,
            None,
            record.stored_at,
            expires_at,
        )
        return self._index.add(item, vector / norm)


def _entry_id(query: SemanticQuery) -> str:
    # Deterministic, so two processes storing the same question in the same scope share one entry.
    return hashlib.sha256(f"{query.scope}\x00{query.text}".encode()).hexdigest()[:32]


def _answer_key(entry_id: str) -> str:
    return "sem:" + entry_id
