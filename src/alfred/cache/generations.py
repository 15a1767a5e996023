"""Per-group cache generations: how a flush reaches every process without touching an entry.

Each model group has a generation number in the state backend's key-value store (Redis when the
gateway scales out, so every process reads the same one). It is folded into every exact key and
semantic scope of the group (``keys.py``); a flush increments it, after which no process looks up
or stores under the old number again and the old entries age out by TTL, LRU or the index's bound.

Reading it must not cost a Redis round trip per request, so each process keeps what it read for
``ttl_s`` (at most a second): a flush lands everywhere within that time.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from alfred.state.base import Clock, KeyValueStore

log = logging.getLogger("alfred.cache")

MAX_TTL_S = 1.0


@dataclass(slots=True)
class _Known:
    value: int
    read_at: float
    stamp: int  # orders writes in this process: a bump that lands during a read wins over it


class Generations:
    """Each group's generation, read through a short in-process cache; ``bump`` flushes a group."""

    def __init__(
        self,
        kv: KeyValueStore,
        *,
        ttl_s: float = 0.5,
        prefix: str = "cache:gen:",
        clock: Clock = time.monotonic,
    ) -> None:
        if not 0 <= ttl_s <= MAX_TTL_S:
            raise ValueError(f"the generation cache TTL must be between 0 and {MAX_TTL_S} s")
        self._kv = kv
        self._ttl_s = ttl_s
        self._prefix = prefix
        self._clock = clock
        self._known: dict[str, _Known] = {}
        self._reading: set[str] = set()
        self._stamp = 0

    async def current(self, group: str) -> int:
        """The group's generation as of at most ``ttl_s`` ago (what the cache stage keys with)."""
        now = self._clock()
        known = self._known.get(group)
        if known is not None and (now - known.read_at < self._ttl_s or group in self._reading):
            # Fresh enough, or another request is already reading it: no stampede on the store.
            return known.value
        self._reading.add(group)
        stamp = self._stamp
        try:
            value = await self.read(group)
        except Exception:
            log.warning("cache generation read failed; keeping the last one seen", exc_info=True)
            value = known.value if known is not None else 0
        finally:
            self._reading.discard(group)
        latest = self._known.get(group)
        if latest is not None and latest.stamp > stamp:
            return latest.value  # a bump in this process landed while we read: it is newer
        self._stamp += 1
        self._known[group] = _Known(value, now, self._stamp)
        return value

    async def read(self, group: str) -> int:
        """The group's generation straight from the store (admin reads; raises when it is down)."""
        raw = await self._kv.get(self._prefix + group)
        return int(raw) if raw else 0

    async def bump(self, group: str) -> int:
        """Start a new generation for ``group`` (a flush) and return it; this process sees it at once."""
        value = await self._kv.incr(self._prefix + group)
        self._stamp += 1
        self._known[group] = _Known(value, self._clock(), self._stamp)
        return value
