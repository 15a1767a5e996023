"""The memory queue's redelivery keeps working when deliveries are touched out of order."""

from __future__ import annotations

from alfred.images.queue import QueueMessage
from alfred.images.queue_memory import MemoryJobQueue


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_touched_delivery_stays_while_an_older_untouched_one_is_redelivered() -> None:
    clock = Clock()
    queue = MemoryJobQueue("primary", visibility_timeout_s=10.0, clock=clock)
    await queue.enqueue(QueueMessage("first", "t"))
    await queue.enqueue(QueueMessage("second", "t"))
    first, _second = await queue.receive("worker-a", 2, 0)
    clock.now += 8
    await queue.touch(first)  # the first is still being worked on; the second's worker went quiet
    clock.now += 5  # 13 s after delivery, 5 s after the touch
    again = await queue.receive("worker-b", 2, 0)
    assert [d.message.job_id for d in again] == ["second"]
    assert again[0].deliveries == 2
    depth = await queue.depth()
    assert (depth.waiting, depth.in_flight) == (0, 2)


async def test_many_in_flight_deliveries_are_reclaimed_oldest_first() -> None:
    clock = Clock()
    queue = MemoryJobQueue("primary", visibility_timeout_s=1.0, clock=clock)
    for i in range(1000):
        await queue.enqueue(QueueMessage(f"job-{i}", "t"))
    taken = await queue.receive("worker-a", 1000, 0)
    assert len(taken) == 1000
    clock.now += 2
    again = await queue.receive("worker-b", 3, 0)
    assert [d.message.job_id for d in again] == ["job-0", "job-1", "job-2"]
    assert (await queue.depth()).waiting == 997
