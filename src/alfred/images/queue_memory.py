"""``MemoryJobQueue``: the embedded default, one process, same contract as Redis Streams and Kafka."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from msgspec import Struct

from alfred.images.queue import Delivery, QueueDepth, QueueMessage

_POLL_S = 0.05  # how often a blocked receive looks for abandoned deliveries


class _InFlight(Struct):
    message: QueueMessage
    deliveries: int
    consumer: str
    touched_at: float


class MemoryJobQueue:
    """A FIFO with in-flight tracking; a delivery untouched for ``visibility_timeout_s`` is redelivered."""

    def __init__(
        self,
        name: str,
        *,
        visibility_timeout_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._visibility_s = visibility_timeout_s
        self._clock = clock
        self._ids = itertools.count(1)
        self._waiting: deque[tuple[str, QueueMessage, int]] = deque()
        self._in_flight: OrderedDict[str, _InFlight] = OrderedDict()
        self._dead: list[tuple[QueueMessage, str]] = []
        self._arrived = asyncio.Event()

    async def enqueue(self, message: QueueMessage) -> None:
        self._waiting.append((str(next(self._ids)), message, 0))
        self._arrived.set()

    def _reclaim(self, now: float) -> None:
        # In-flight entries are kept in touch order (``touch`` moves one to the end), so the expired
        # ones are a prefix: the scan stops at the first live entry instead of walking them all.
        cutoff = now - self._visibility_s
        if not self._in_flight or next(iter(self._in_flight.values())).touched_at > cutoff:
            return  # the usual case: nothing has expired
        expired: list[str] = []
        for token, entry in self._in_flight.items():
            if entry.touched_at > cutoff:
                break
            expired.append(token)
        for token in reversed(expired):  # redeliveries go first, oldest at the front
            entry = self._in_flight.pop(token)
            self._waiting.appendleft((token, entry.message, entry.deliveries))

    def _take(self, consumer: str, count: int) -> list[Delivery]:
        now = self._clock()  # one reading for the whole batch: taking it moves no clock
        self._reclaim(now)
        waiting, in_flight = self._waiting, self._in_flight
        out: list[Delivery] = []
        while waiting and len(out) < count:
            token, message, deliveries = waiting.popleft()
            in_flight[token] = _InFlight(message, deliveries + 1, consumer, now)
            out.append(Delivery(message, token, deliveries + 1, consumer))
        return out

    async def receive(self, consumer: str, count: int, block_s: float) -> list[Delivery]:
        if count <= 0:
            return []
        # what is there already is handed over without reading the loop's clock or waiting
        taken = self._take(consumer, count)
        if taken or block_s <= 0:
            return taken
        loop = asyncio.get_running_loop()
        deadline = loop.time() + block_s
        while True:
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout=min(deadline - loop.time(), _POLL_S))
            taken = self._take(consumer, count)
            remaining = deadline - loop.time()
            if taken or remaining <= 0:
                return taken

    async def ack(self, delivery: Delivery) -> None:
        self._in_flight.pop(delivery.token, None)

    async def touch(self, delivery: Delivery) -> None:
        entry = self._in_flight.get(delivery.token)
        if entry is not None:
            entry.touched_at = self._clock()
            self._in_flight.move_to_end(delivery.token)

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        if self._in_flight.pop(delivery.token, None) is not None:
            self._dead.append((delivery.message, reason))

    async def dead_letters(self, limit: int = 100) -> list[tuple[QueueMessage, str]]:
        return self._dead[:limit]

    async def depth(self) -> QueueDepth:
        return QueueDepth(waiting=len(self._waiting), in_flight=len(self._in_flight))

    async def close(self) -> None:
        return None
