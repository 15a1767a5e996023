"""Fallback spend in the last hour, shared by every process that routes (for the router's spend cap).

``MemorySpendMeter`` is exact for one process. ``KeyValueSpendMeter`` shares the figure through the
state backend's key-value store (Redis in a scale-out): two hourly counters in micro-USD, read as a
sliding window (the previous hour weighted by how much of it is still inside the last 60 minutes),
the usual two-reads approximation of a rolling window.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

from alfred.images.router import SpendWindow
from alfred.state.base import KeyValueStore

_MICROS = Decimal(1_000_000)
_HOUR_S = 3600.0


class SpendMeter(Protocol):
    """Adds fallback spend as it is settled; reads the last hour's total."""

    async def add(self, amount: Decimal) -> None: ...

    async def last_hour(self) -> Decimal: ...


class MemorySpendMeter:
    """A rolling hour in this process (the router's own ``SpendWindow``)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._window = SpendWindow(clock)

    async def add(self, amount: Decimal) -> None:
        self._window.add(amount)

    async def last_hour(self) -> Decimal:
        return self._window.total()


class KeyValueSpendMeter:
    """Hourly counters in a shared key-value store; ``clock`` is wall time (every process must agree)."""

    def __init__(
        self, kv: KeyValueStore, clock: Callable[[], float], key: str = "images:fallback-spend"
    ) -> None:
        self._kv = kv
        self._clock = clock
        self._key = key

    def _hour(self, offset: int = 0) -> str:
        return f"{self._key}:{math.floor(self._clock() / _HOUR_S) + offset}"

    async def add(self, amount: Decimal) -> None:
        micros = int((amount * _MICROS).to_integral_value())
        if micros:
            await self._kv.incr(self._hour(), micros, ttl_s=2 * _HOUR_S + 60)

    async def last_hour(self) -> Decimal:
        current = await self._kv.get(self._hour())
        previous = await self._kv.get(self._hour(-1))
        into_hour = Decimal(repr((self._clock() % _HOUR_S) / _HOUR_S))
        total = Decimal(int(current or 0)) + Decimal(int(previous or 0)) * (1 - into_hour)
        return (total / _MICROS).quantize(Decimal("0.000001"))
