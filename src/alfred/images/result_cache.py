"""The exact result cache: request key → stored images. L1 is an LRU in this process, L2 the shared
key-value store (Redis in a scale-out), so one gateway's render serves every gateway's repeats.

Entries hold blob keys, not URLs: URLs are minted again on every hit (presigned URLs expire).
The key (``spec.cache_key``) includes the tenant, so tenants never see each other's entries.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import msgspec
from msgspec import Struct

from alfred.images.jobs import JobImage
from alfred.state.base import KeyValueStore


class CachedResult(Struct, frozen=True, kw_only=True):
    """What a finished job left for its repeats: its images and what producing them cost."""

    images: list[JobImage]
    cost_usd: str = "0"
    model: str = ""
    job_id: str = ""
    created_at: float = 0.0


@dataclass(slots=True)
class CacheStats:
    """Counters for metrics: hits by level, misses, and the spend the hits avoided."""

    hits_l1: int = 0
    hits_l2: int = 0
    misses: int = 0
    stores: int = 0
    cost_saved: Decimal = Decimal(0)

    @property
    def lookups(self) -> int:
        return self.hits_l1 + self.hits_l2 + self.misses

    @property
    def hit_rate(self) -> float:
        return (self.hits_l1 + self.hits_l2) / self.lookups if self.lookups else 0.0


_COSTS_KEPT = 1024  # parsed costs kept for reuse: a few distinct prices cover nearly every hit
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(CachedResult)


class ResultCache:
    """L1 LRU (``l1_size`` entries, TTL from ``clock``) in front of an optional shared L2."""

    def __init__(
        self,
        l2: KeyValueStore | None = None,
        *,
        ttl_s: float = 30 * 24 * 3600,
        l1_size: int = 10_000,
        prefix: str = "images:result:",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._l2 = l2
        self._ttl_s = ttl_s
        self._l1_size = l1_size
        self._prefix = prefix
        self._clock = clock
        self._l1: OrderedDict[str, tuple[CachedResult, float]] = OrderedDict()
        self._costs: dict[str, Decimal] = {}  # cost text → its value (Decimal is immutable)
        self.stats = CacheStats()

    def _l1_put(self, key: str, result: CachedResult) -> None:
        if self._l1_size <= 0:
            return
        self._l1[key] = (result, self._clock() + self._ttl_s)
        self._l1.move_to_end(key)
        while len(self._l1) > self._l1_size:
            self._l1.popitem(last=False)

    async def get(self, key: str) -> CachedResult | None:
        """The cached result for ``key``, counting the hit (and the cost it saved) or the miss."""
        # L1 inline rather than in a helper: a simulated month looks a key up millions of times
        result: CachedResult | None = None
        entry = self._l1.get(key)
        if entry is not None:
            if self._clock() < entry[1]:
                self._l1.move_to_end(key)
                result = entry[0]
                self.stats.hits_l1 += 1
            else:
                del self._l1[key]  # expired
        if result is None and self._l2 is not None:
            raw = await self._l2.get(self._prefix + key)
            if raw is not None:
                try:
                    result = _decoder.decode(raw)
                except msgspec.DecodeError:
                    result = None  # written by an incompatible version: treat as a miss
                if result is not None:
                    self.stats.hits_l2 += 1
                    self._l1_put(key, result)
        if result is None:
            self.stats.misses += 1
            return None
        self.stats.cost_saved += self._cost(result.cost_usd)
        return result

    def _cost(self, text: str) -> Decimal:
        """``Decimal(text)``, parsed once per distinct text: every hit adds its result's cost."""
        cost = self._costs.get(text)
        if cost is None:
            cost = Decimal(text)
            if len(self._costs) < _COSTS_KEPT:
                self._costs[text] = cost
        return cost

    async def put(self, key: str, result: CachedResult) -> None:
        self._l1_put(key, result)
        if self._l2 is not None:
            await self._l2.set(self._prefix + key, _encoder.encode(result), ttl_s=self._ttl_s)
        self.stats.stores += 1

    async def drop(self, key: str) -> None:
        """Forget an entry (its blobs went missing)."""
        self._l1.pop(key, None)
        if self._l2 is not None:
            await self._l2.delete(self._prefix + key)
