"""The semantic cache's question log: how processes tell each other which questions they stored.

``MemorySemanticLog`` serves one process (several caches in it share it in tests); the Redis stream
in ``redis_log.py`` serves many.
"""

from __future__ import annotations

from typing import Protocol


class SemanticLog(Protocol):
    """An append-only, bounded log of stored questions that every process reads from a cursor."""

    async def append(self, record: bytes) -> None: ...

    async def read(self, cursor: str, count: int) -> tuple[list[bytes], str]:
        """Up to ``count`` records after ``cursor`` ("0" for the start) and the cursor after them."""
        ...


class MemorySemanticLog:
    """``SemanticLog`` in a list, trimmed to the newest ``max_entries`` (cursors stay valid)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._records: list[bytes] = []
        self._first = 1  # sequence number of self._records[0]
        self._max_entries = max_entries

    async def append(self, record: bytes) -> None:
        self._records.append(record)
        overflow = len(self._records) - self._max_entries
        if overflow > 0:
            del self._records[:overflow]
            self._first += overflow

    async def read(self, cursor: str, count: int) -> tuple[list[bytes], str]:
        after = int(cursor)
        start = max(after + 1, self._first) - self._first
        batch = self._records[start : start + count]
        return batch, str(self._first + start + len(batch) - 1) if batch else cursor
