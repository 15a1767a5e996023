"""The exact cache: a bounded in-process LRU (L1) in front of an optional shared store (L2, Redis).

L1 answers in microseconds and is bounded by entry count and bytes. L2 is any ``KeyValueStore``
(the state backend's Redis store in scale-out); on the embedded default there is none and the cache
lives in memory only. An L2 hit is copied into L1. An L2 failure is logged and treated as a miss:
the cache must never turn a good request into an error.

Entries outlive their fresh period by ``stale_ttl_s`` so that ``get(..., allow_stale=True)`` can
still answer while every deployment is down.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from alfred.cache.entry import CachedAnswer, decode_answer, encode_answer
from alfred.cache.keys import group_of
from alfred.state.base import Clock, KeyValueStore

log = logging.getLogger("alfred.cache")


@dataclass(slots=True)
class _Slot:
    data: bytes
    expires_at: float  # end of the stale window: the slot is useless after it


class LruStore:
    """L1: bytes by key, least recently used first out, bounded by count and total bytes."""

    def __init__(self, max_entries: int, max_bytes: int, clock: Clock = time.time) -> None:
        self._slots: OrderedDict[str, _Slot] = OrderedDict()
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._bytes = 0
        self._clock = clock

    def __len__(self) -> int:
        return len(self._slots)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def get(self, key: str) -> bytes | None:
        slot = self._slots.get(key)
        if slot is None:
            return None
        if slot.expires_at <= self._clock():
            self._drop(key)
            return None
        self._slots.move_to_end(key)
        return slot.data

    def put(self, key: str, data: bytes, keep_s: float) -> None:
        if len(data) > self._max_bytes:
            return
        if key in self._slots:
            self._drop(key)
        self._slots[key] = _Slot(data, self._clock() + keep_s)
        self._bytes += len(data)
        while len(self._slots) > self._max_entries or self._bytes > self._max_bytes:
            self._drop(next(iter(self._slots)))

    def delete(self, key: str) -> None:
        if key in self._slots:
            self._drop(key)

    def live_keys(self) -> list[str]:
        """Keys whose slot is still usable (admin counts; walks every slot)."""
        now = self._clock()
        return [key for key, slot in self._slots.items() if slot.expires_at > now]

    def _drop(self, key: str) -> None:
        slot = self._slots.pop(key)
        self._bytes -= len(slot.data)


@dataclass(frozen=True, slots=True)
class Lookup:
    """An entry found, and whether it came from L1 or L2 and is still fresh."""

    answer: CachedAnswer
    level: str  # "l1" | "l2"
    fresh: bool


class ExactCache:
    """L1 + optional L2 for encoded ``CachedAnswer`` entries."""

    def __init__(
        self,
        l1: LruStore,
        l2: KeyValueStore | None = None,
        *,
        stale_ttl_s: float = 0.0,
        max_entry_bytes: int = 1024 * 1024,
        clock: Clock = time.time,
    ) -> None:
        self._l1 = l1
        self._l2 = l2
        self._stale_ttl_s = stale_ttl_s
        self._max_entry_bytes = max_entry_bytes
        self._clock = clock

    @property
    def shared(self) -> bool:
        """True when entries reach other processes (an L2 is configured)."""
        return self._l2 is not None

    async def get(self, key: str, *, allow_stale: bool = False) -> Lookup | None:
        now = self._clock()
        data = self._l1.get(key)
        level = "l1"
        if data is None and self._l2 is not None:
            try:
                data = await self._l2.get(key)
            except Exception:
                log.warning("L2 cache read failed; treated as a miss", exc_info=True)
                return None
            level = "l2"
        if data is None:
            return None
        answer = decode_answer(data)
        if answer is None or not answer.usable(now, self._stale_ttl_s):
            self._l1.delete(key)
            return None
        if level == "l2":
            self._l1.put(key, data, self._keep_s(answer, now))
        fresh = answer.fresh(now)
        if not fresh and not allow_stale:
            return None
        return Lookup(answer, level, fresh)

    async def put(self, key: str, answer: CachedAnswer) -> bool:
        """Store in L1 and L2; False when the entry is too large (or L2 refused it)."""
        data = encode_answer(answer)
        if len(data) > self._max_entry_bytes:
            return False
        keep_s = self._keep_s(answer, self._clock())
        if keep_s <= 0:
            return False
        self._l1.put(key, data, keep_s)
        if self._l2 is None:
            return True
        try:
            await self._l2.set(key, data, keep_s)
        except Exception:
            log.warning("L2 cache write failed; kept in this process only", exc_info=True)
            return False
        return True

    def count_by_group(self) -> Counter[tuple[str, int]]:
        """This process's L1 entries by (group, generation); semantic answers are not counted here."""
        found: Counter[tuple[str, int]] = Counter()
        for key in self._l1.live_keys():
            owner = group_of(key)
            if owner is not None:
                found[owner] += 1
        return found

    def forget_group(self, group: str, below: int) -> int:
        """Drop this process's L1 entries of ``group`` older than generation ``below`` (after a flush).

        L2 keeps its copies until they expire: no request can reach them any more, and deleting
        them one by one in Redis would cost a scan of the whole key space.
        """
        stale = [
            key
            for key in self._l1.live_keys()
            if (owner := group_of(key)) is not None and owner[0] == group and owner[1] < below
        ]
        self.forget(stale)
        return len(stale)

    def forget(self, keys: Iterable[str]) -> None:
        """Drop keys from L1 only."""
        for key in keys:
            self._l1.delete(key)

    async def delete(self, key: str) -> None:
        self._l1.delete(key)
        if self._l2 is not None:
            try:
                await self._l2.delete(key)
            except Exception:
                log.warning("L2 cache delete failed", exc_info=True)

    def _keep_s(self, answer: CachedAnswer, now: float) -> float:
        return answer.stored_at + answer.ttl_s + self._stale_ttl_s - now
