"""The per-process vector index of the semantic cache: exact search over unit vectors, per scope.

Each scope (tenant + model group + answer-changing parameters + earlier turns) has its own float32
matrix, so a search only ever sees the vectors it may answer from, and its cost grows with that
scope's size, not with the whole cache. Exact search (one matrix-vector product) beats an
approximate index at these sizes: 100k x 384 floats is one BLAS call of a few milliseconds, with no
recall loss and no index to rebuild. The index is bounded: past ``max_entries`` the oldest entry
goes first.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from alfred.cache.guard import Signature
from alfred.cache.keys import group_of

Vector = npt.NDArray[np.float32]


@dataclass(slots=True)
class IndexedQuestion:
    """One stored question: where its answer lives and what the guard compares.

    ``signature`` is filled on first use: most entries never come close enough to a query to be
    checked, and a process warming 100k entries at startup should not parse 100k sentences.
    """

    entry_id: str
    scope: str
    question: str
    signature: Signature | None
    stored_at: float
    expires_at: float


class _Block:
    """One scope's vectors (rows ``[:size]`` of ``matrix``) and the questions they belong to."""

    def __init__(self, dimensions: int) -> None:
        self.matrix: Vector = np.empty((8, dimensions), dtype=np.float32)
        self.items: list[IndexedQuestion] = []
        self.rows: dict[str, int] = {}

    def add(self, item: IndexedQuestion, vector: Vector) -> None:
        size = len(self.items)
        if size == self.matrix.shape[0]:
            grown = np.empty((size * 2, self.matrix.shape[1]), dtype=np.float32)
            grown[:size] = self.matrix[:size]
            self.matrix = grown
        self.matrix[size] = vector
        self.items.append(item)
        self.rows[item.entry_id] = size

    def remove(self, entry_id: str) -> None:
        row = self.rows.pop(entry_id)
        last = len(self.items) - 1
        if row != last:  # move the last row into the hole
            self.matrix[row] = self.matrix[last]
            moved = self.items[last]
            self.items[row] = moved
            self.rows[moved.entry_id] = row
        self.items.pop()


class VectorIndex:
    """Scoped exact nearest-neighbour search over unit vectors, bounded to ``max_entries``."""

    def __init__(self, dimensions: int, max_entries: int) -> None:
        self.dimensions = dimensions
        self._max_entries = max_entries
        self._blocks: dict[str, _Block] = {}
        self._order: OrderedDict[str, str] = OrderedDict()  # entry id → scope, oldest first

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, entry_id: str) -> bool:
        return entry_id in self._order

    def add(self, item: IndexedQuestion, vector: Vector) -> bool:
        """Index a question; False when it is already there (entries arrive from several places)."""
        if item.entry_id in self._order:
            return False
        if vector.shape != (self.dimensions,):
            raise ValueError(f"vector of shape {vector.shape}, index holds {self.dimensions} dimensions")
        block = self._blocks.get(item.scope)
        if block is None:
            block = self._blocks[item.scope] = _Block(self.dimensions)
        block.add(item, vector)
        self._order[item.entry_id] = item.scope
        while len(self._order) > self._max_entries:
            self.remove(next(iter(self._order)))
        return True

    def remove(self, entry_id: str) -> None:
        scope = self._order.pop(entry_id, None)
        if scope is None:
            return
        block = self._blocks[scope]
        block.remove(entry_id)
        if not block.items:
            del self._blocks[scope]

    def count_by_group(self, now: float) -> Counter[tuple[str, int]]:
        """Unexpired questions by (group, generation) of their scope."""
        found: Counter[tuple[str, int]] = Counter()
        for scope, block in self._blocks.items():
            owner = group_of(scope)
            if owner is not None:
                found[owner] += sum(1 for item in block.items if item.expires_at > now)
        return found

    def forget_group(self, group: str, below: int) -> list[str]:
        """Remove the questions of ``group`` older than generation ``below``; returns their entry ids."""
        removed: list[str] = []
        for scope in list(self._blocks):
            owner = group_of(scope)
            if owner is not None and owner[0] == group and owner[1] < below:
                ids = [item.entry_id for item in self._blocks[scope].items]
                for entry_id in ids:
                    self.remove(entry_id)
                removed.extend(ids)
        return removed

    def search(
        self, scope: str, vector: Vector, *, k: int, min_score: float
    ) -> list[tuple[float, IndexedQuestion]]:
        """The ``k`` best questions of ``scope`` scoring at least ``min_score``, best first."""
        block = self._blocks.get(scope)
        if block is None:
            return []
        size = len(block.items)
        scores = block.matrix[:size] @ vector
        top = np.argpartition(scores, size - k)[size - k :] if size > k else np.arange(size)
        ranked = sorted(((float(scores[i]), int(i)) for i in top), reverse=True)
        return [(score, block.items[row]) for score, row in ranked if score >= min_score]
