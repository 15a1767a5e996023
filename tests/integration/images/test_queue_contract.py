"""One contract, three JobQueue backends: in-process memory, Redis Streams (real Redis), Kafka.

Kafka runs only when KAFKA_BOOTSTRAP_SERVERS points at a broker (none runs in this project's CI).
Kafka redelivers an abandoned message when its consumer leaves the group (a rebalance), not after an
idle time, so the two visibility-timeout tests are written for memory and Redis only.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from alfred.images.queue import Delivery, JobQueue, QueueMessage
from alfred.images.queue_memory import MemoryJobQueue
from alfred.images.queue_redis import RedisStreamQueue

KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
BACKENDS = [
    "memory",
    "redis",
    pytest.param(
        "kafka",
        marks=pytest.mark.skipif(not KAFKA, reason="set KAFKA_BOOTSTRAP_SERVERS to run against Kafka"),
    ),
]
QueueMaker = Callable[..., JobQueue]


@pytest.fixture(params=BACKENDS)
async def make_queue(
    request: pytest.FixtureRequest, prefix: str, clients: Callable[[], Redis]
) -> AsyncIterator[QueueMaker]:
    """``make_queue(visibility_timeout_s=…)``: another handle on the same queue (another process's, for Redis)."""
    kind = request.param
    name = f"q{uuid.uuid4().hex[:8]}"
    made: list[JobQueue] = []
    memory: dict[float, MemoryJobQueue] = {}

    def make(visibility_timeout_s: float = 30.0) -> JobQueue:
        queue: JobQueue
        if kind == "memory":
            # one process: every consumer shares the one queue object
            queue = memory.setdefault(
                visibility_timeout_s, MemoryJobQueue(name, visibility_timeout_s=visibility_timeout_s)
            )
        elif kind == "redis":
            queue = RedisStreamQueue(
                clients(), name, prefix=prefix, visibility_timeout_s=visibility_timeout_s
            )
        else:
            from alfred.images.queue_kafka import KafkaJobQueue

            queue = KafkaJobQueue(
                str(KAFKA), name, prefix=prefix.replace(":", "."), visibility_timeout_s=visibility_timeout_s
            )
        made.append(queue)
        return queue

    make.kind = kind  # type: ignore[attr-defined]
    yield make
    for queue in made:
        await queue.close()


def message(i: int) -> QueueMessage:
    return QueueMessage(job_id=f"job-{i}", tenant=f"tenant-{i % 3}")


async def receive_until(
    queue: JobQueue, consumer: str, want: int, deadline_s: float = 15.0
) -> list[Delivery]:
    out: list[Delivery] = []
    deadline = time.monotonic() + deadline_s
    while len(out) < want:
        assert time.monotonic() < deadline, f"got {len(out)} of {want} deliveries within {deadline_s}s"
        out.extend(await queue.receive(consumer, want - len(out), 0.2))
    return out


async def test_messages_are_delivered_in_order_and_acked_away(make_queue: QueueMaker) -> None:
    producer, consumer = make_queue(), make_queue()
    for i in range(3):
        await producer.enqueue(message(i))
    deliveries = await receive_until(consumer, "c1", 3)
    assert [d.message for d in deliveries] == [message(0), message(1), message(2)]
    assert all(d.deliveries == 1 and d.consumer == "c1" for d in deliveries)
    depth = await producer.depth()
    assert (depth.waiting, depth.in_flight) == (0, 3)
    for delivery in deliveries:
        await consumer.ack(delivery)
    assert (await producer.depth()).total == 0
    assert await consumer.receive("c1", 5, 0.2) == []


async def test_depth_counts_waiting_and_in_flight(make_queue: QueueMaker) -> None:
    queue = make_queue()
    for i in range(5):
        await queue.enqueue(message(i))
    taken = await receive_until(queue, "c1", 2)
    depth = await queue.depth()
    assert (depth.waiting, depth.in_flight, depth.total) == (3, 2, 5)
    await queue.ack(taken[0])
    assert (await queue.depth()).total == 4


async def test_competing_consumers_each_get_different_messages(make_queue: QueueMaker) -> None:
    producer = make_queue()
    for i in range(30):
        await producer.enqueue(message(i))
    got: dict[str, list[Delivery]] = {"a": [], "b": []}
    queues = {"a": make_queue(), "b": make_queue()}

    async def consume(name: str) -> None:
        deadline = time.monotonic() + 15
        while sum(len(v) for v in got.values()) < 30 and time.monotonic() < deadline:
            for delivery in await queues[name].receive(name, 4, 0.1):
                got[name].append(delivery)
                await queues[name].ack(delivery)

    await asyncio.gather(consume("a"), consume("b"))
    ids = [d.message.job_id for deliveries in got.values() for d in deliveries]
    assert sorted(ids) == sorted(f"job-{i}" for i in range(30)) and len(set(ids)) == 30
    assert (await producer.depth()).total == 0


async def test_dead_letters_keep_the_reason_and_leave_the_queue(make_queue: QueueMaker) -> None:
    queue = make_queue()
    await queue.enqueue(message(1))
    await queue.enqueue(message(2))
    first, second = await receive_until(queue, "c1", 2)
    await queue.dead_letter(first, "it crashed every worker")
    await queue.ack(second)
    assert (await queue.depth()).total == 0
    assert await queue.dead_letters() == [(message(1), "it crashed every worker")]


async def test_an_idle_receive_blocks_for_block_s_and_wakes_on_a_message(make_queue: QueueMaker) -> None:
    queue, producer = make_queue(), make_queue()
    started = time.monotonic()
    assert await queue.receive("c1", 1, 0.3) == []
    assert time.monotonic() - started >= 0.25

    async def later() -> None:
        await asyncio.sleep(0.2)
        await producer.enqueue(message(9))

    sender = asyncio.ensure_future(later())
    started = time.monotonic()
    got = await queue.receive("c1", 1, 5.0)
    await sender
    assert [d.message for d in got] == [message(9)] and time.monotonic() - started < 4.0


async def test_an_abandoned_message_is_redelivered_to_another_consumer(make_queue: QueueMaker) -> None:
    if make_queue.kind == "kafka":  # type: ignore[attr-defined]
        pytest.skip("Kafka redelivers on a rebalance, not after an idle time")
    dead, alive = make_queue(0.3), make_queue(0.3)
    await dead.enqueue(message(1))
    (taken,) = await receive_until(dead, "dies", 1)
    assert taken.deliveries == 1
    (again,) = await receive_until(alive, "lives", 1)  # after 0.3 s without a touch
    assert again.message == message(1) and again.deliveries == 2 and again.consumer == "lives"
    await alive.ack(again)
    assert (await alive.depth()).total == 0
    assert await alive.receive("lives", 1, 0.5) == []  # acked for good, never delivered a third time


async def test_touch_keeps_a_slow_job_from_being_taken(make_queue: QueueMaker) -> None:
    if make_queue.kind == "kafka":  # type: ignore[attr-defined]
        pytest.skip("Kafka heart-beats in the background; touch is a no-op there")
    worker, other = make_queue(0.4), make_queue(0.4)
    await worker.enqueue(message(1))
    (taken,) = await receive_until(worker, "slow", 1)
    stolen: list[Any] = []
    until = time.monotonic() + 1.2  # three visibility timeouts
    while time.monotonic() < until:
        await worker.touch(taken)
        stolen.extend(await other.receive("thief", 1, 0.1))
    assert stolen == []
    (again,) = await receive_until(other, "thief", 1)  # once the touches stop, it moves
    assert again.deliveries == 2


async def test_an_abandoned_message_behind_many_live_ones_is_still_reclaimed(make_queue: QueueMaker) -> None:
    if make_queue.kind == "kafka":  # type: ignore[attr-defined]
        pytest.skip("Kafka redelivers on a rebalance, not after an idle time")
    live, dead, thief = make_queue(0.4), make_queue(0.4), make_queue(0.4)
    for i in range(25):
        await live.enqueue(message(i))
    busy = await receive_until(live, "live", 24)  # the 24 oldest stay in flight, kept alive
    (abandoned,) = await receive_until(dead, "dead", 1)
    got: list[Delivery] = []
    deadline = time.monotonic() + 10
    while not got:
        assert time.monotonic() < deadline, "the abandoned message was never reclaimed"
        for delivery in busy:
            await live.touch(delivery)
        got = await thief.receive("thief", 1, 0.05)
    assert [d.message for d in got] == [abandoned.message] and got[0].deliveries == 2
