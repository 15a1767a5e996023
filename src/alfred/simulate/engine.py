"""The discrete-event core: a virtual clock and a heap of timed events.

Nothing sleeps: time jumps from one event to the next. Arrivals come as a sorted list and are merged
with the heap (pushing a month of arrivals onto the heap would only cost time). Handlers are
coroutines because the pipeline classes they drive (queue, cache) are async; none of them ever
suspends on a virtual clock, so awaiting one is just a call.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import math
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Generic, TypeVar

E = TypeVar("E")


class VirtualClock:
    """Seconds since the start of the run; only the event loop moves it."""

    __slots__ = ("now",)

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class EventQueue(Generic[E]):
    """Events by time; equal times come out in the order they were pushed."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, E]] = []
        self._order = itertools.count()

    def push(self, at: float, event: E) -> None:
        heapq.heappush(self._heap, (at, next(self._order), event))

    def pop(self) -> tuple[float, E]:
        at, _, event = heapq.heappop(self._heap)
        return at, event

    def next_time(self) -> float:
        return self._heap[0][0] if self._heap else math.inf

    def __len__(self) -> int:
        return len(self._heap)


async def run_events(
    clock: VirtualClock,
    arrivals: Sequence[float],
    events: EventQueue[E],
    on_arrival: Callable[[int], Awaitable[None]],
    on_event: Callable[[E], Awaitable[None]],
    *,
    progress: Callable[[int], None] | None = None,
    progress_every: int = 5000,
) -> None:
    """Run until every arrival has come and every event has fired (the backlog drains).

    An event due at the same instant as an arrival fires first: a slot freed at t serves the
    queue before a request arriving at t looks at its depth.
    """
    heap = events._heap  # the loop below is the hot path of a month-long run: no method calls
    pop = heapq.heappop
    count = len(arrivals)
    for index in range(count):
        arrival = arrivals[index]
        while heap and heap[0][0] <= arrival:
            clock.now, _, event = pop(heap)
            await on_event(event)
        clock.now = arrival
        await on_arrival(index)
        if progress is not None and index % progress_every == 0:
            progress(index)
    while heap:  # the backlog drains after the last arrival
        clock.now, _, event = pop(heap)
        await on_event(event)
    if progress is not None:
        progress(count)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off inside, as it was again after.

    A month's run allocates millions of objects (messages, deliveries, decisions) while it holds
    a backlog, the cache and the request stream, so the collector keeps walking those and finds
    nothing to free: a run makes no reference cycles (``test_engine`` checks), and reference
    counting frees the rest as it goes. The walking was 2-8% of a run and of building the stream.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
