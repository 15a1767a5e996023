"""``KafkaJobQueue``: the ``JobQueue`` contract over a Kafka topic and a consumer group (aiokafka).

How the contract maps onto Kafka:

- Each consumer name gets its own ``AIOKafkaConsumer`` in one group, so partitions are shared out
  among workers; offsets are committed by hand (``enable_auto_commit=False``).
- ``ack`` marks an offset done and commits the lowest offset still in flight on that partition
  (Kafka commits are a watermark, so one slow job holds back its partition's commit, never its work).
- A dead worker stops heart-beating; after ``session_timeout_ms`` (the visibility timeout) the group
  rebalances and its partitions resume from their last commit on another worker: the un-acked
  messages are delivered again. ``touch`` has nothing to do (aiokafka heart-beats in the background),
  so a worker that hangs while its process lives is not detected; the job's own deadline covers that.
- Kafka does not count deliveries, so a ``DeliveryCounter`` does (pass the shared key-value store's
  ``incr`` when workers run in several processes; the default counts in this process only).
- Dead letters go to ``<topic>.dead`` with the reason as a header.

aiokafka is an optional extra (``pip install aiokafka``) and is imported only when this queue is
built. No Kafka broker runs in this project's CI; its contract tests run when
``KAFKA_BOOTSTRAP_SERVERS`` is set (see docs).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from alfred.images.queue import Delivery, QueueDepth, QueueMessage

log = logging.getLogger("alfred.images.kafka")

DeliveryCounter = Callable[[str], Awaitable[int]]
"""Adds one to the delivery count of a message (named by topic:partition:offset) and returns it."""


def topic_name(prefix: str, name: str) -> str:
    """Kafka topic names allow only ``[a-zA-Z0-9._-]``."""
    return re.sub(r"[^a-zA-Z0-9._-]", ".", f"{prefix}{name}").strip(".")


class _LocalCounter:
    def __init__(self) -> None:
        self._counts: dict[str, int] = defaultdict(int)

    async def __call__(self, key: str) -> int:
        self._counts[key] += 1
        return self._counts[key]


class KafkaJobQueue:
    """The ``JobQueue`` contract over Kafka (see the module docstring for what differs)."""

    def __init__(
        self,
        bootstrap_servers: str,
        name: str,
        *,
        prefix: str = "alfred:images:",
        visibility_timeout_s: float = 60.0,
        counter: DeliveryCounter | None = None,
    ) -> None:
        try:
            import aiokafka  # type: ignore[import-untyped]
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError("the Kafka queue needs the aiokafka package (pip install aiokafka)") from exc
        self._aiokafka: Any = aiokafka
        self.name = name
        self._servers = bootstrap_servers
        self._topic = topic_name(prefix, name)
        self._dead_topic = self._topic + ".dead"
        self._group = self._topic + ".workers"
        self._session_ms = max(6000, int(visibility_timeout_s * 1000))
        self._counter: DeliveryCounter = counter or _LocalCounter()
        self._producer: Any = None
        self._probe: Any = None
        self._consumers: dict[str, Any] = {}
        self._owner: dict[tuple[str, int], str] = {}  # partition → consumer that delivered from it
        self._in_flight: dict[tuple[str, int], set[int]] = defaultdict(set)
        self._lock = asyncio.Lock()

    async def _producer_started(self) -> Any:
        async with self._lock:
            if self._producer is None:
                producer = self._aiokafka.AIOKafkaProducer(
                    bootstrap_servers=self._servers, acks="all", enable_idempotence=True
                )
                await producer.start()
                self._producer = producer
        return self._producer

    async def _consumer(self, name: str) -> Any:
        async with self._lock:
            consumer = self._consumers.get(name)
            if consumer is None:
                consumer = self._aiokafka.AIOKafkaConsumer(
                    self._topic,
                    bootstrap_servers=self._servers,
                    group_id=self._group,
                    client_id=name,
                    enable_auto_commit=False,
                    auto_offset_reset="earliest",
                    session_timeout_ms=self._session_ms,
                    heartbeat_interval_ms=max(1000, self._session_ms // 3),
                )
                await consumer.start()
                self._consumers[name] = consumer
        return consumer

    async def enqueue(self, message: QueueMessage) -> None:
        producer = await self._producer_started()
        await producer.send_and_wait(self._topic, value=message.job_id.encode(), key=message.tenant.encode())

    async def receive(self, consumer: str, count: int, block_s: float) -> list[Delivery]:
        if count <= 0:
            return []
        client = await self._consumer(consumer)
        batches = await client.getmany(timeout_ms=int(block_s * 1000), max_records=count)
        out: list[Delivery] = []
        for tp, records in batches.items():
            for record in records:
                token = f"{tp.topic}:{tp.partition}:{record.offset}"
                self._owner[(tp.topic, tp.partition)] = consumer
                self._in_flight[(tp.topic, tp.partition)].add(record.offset)
                message = QueueMessage(job_id=record.value.decode(), tenant=record.key.decode())
                out.append(Delivery(message, token, await self._counter(token), consumer))
        return out

    async def _commit(self, token: str) -> None:
        topic, partition_text, offset_text = token.rsplit(":", 2)
        key, offset = (topic, int(partition_text)), int(offset_text)
        pending = self._in_flight.get(key)
        if pending is None or offset not in pending:
            return
        pending.discard(offset)
        consumer = self._consumers.get(self._owner.get(key, ""))
        if consumer is None:
            return
        tp = self._aiokafka.TopicPartition(topic, key[1])
        position = min(pending) if pending else offset + 1
        try:
            await consumer.commit({tp: position})
        except Exception as exc:  # rebalanced away: the new owner redelivers, the job store dedupes
            log.warning("kafka commit of %s failed: %s", token, exc)

    async def ack(self, delivery: Delivery) -> None:
        await self._commit(delivery.token)

    async def touch(self, delivery: Delivery) -> None:
        return None  # aiokafka heart-beats in the background

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        producer = await self._producer_started()
        await producer.send_and_wait(
            self._dead_topic,
            value=delivery.message.job_id.encode(),
            key=delivery.message.tenant.encode(),
            headers=[("reason", reason.encode()), ("deliveries", str(delivery.deliveries).encode())],
        )
        await self._commit(delivery.token)

    async def dead_letters(self, limit: int = 100) -> list[tuple[QueueMessage, str]]:
        reader = self._aiokafka.AIOKafkaConsumer(
            self._dead_topic, bootstrap_servers=self._servers, group_id=None, auto_offset_reset="earliest"
        )
        await reader.start()
        out: list[tuple[QueueMessage, str]] = []
        try:
            batches = await reader.getmany(timeout_ms=2000, max_records=limit)
            for records in batches.values():
                for record in records:
                    headers = dict(record.headers or ())
                    message = QueueMessage(job_id=record.value.decode(), tenant=record.key.decode())
                    out.append((message, headers.get("reason", b"").decode()))
        finally:
            await reader.stop()
        return out[:limit]

    async def _probe_started(self) -> Any:
        async with self._lock:
            if self._probe is None:
                probe = self._aiokafka.AIOKafkaConsumer(
                    bootstrap_servers=self._servers, group_id=self._group, enable_auto_commit=False
                )
                await probe.start()
                self._probe = probe
        return self._probe

    async def depth(self) -> QueueDepth:
        """Lag (end offset minus committed, summed over partitions); in flight as seen by this process."""
        probe = await self._probe_started()
        await probe.topics()  # refreshes metadata, so a topic created since is seen
        partitions = probe.partitions_for_topic(self._topic) or set()
        tps = [self._aiokafka.TopicPartition(self._topic, p) for p in partitions]
        ends = await probe.end_offsets(tps) if tps else {}
        lag = 0
        for tp in tps:
            committed = await probe.committed(tp)
            lag += max(0, ends.get(tp, 0) - (committed or 0))
        in_flight = min(lag, sum(len(offsets) for offsets in self._in_flight.values()))
        return QueueDepth(waiting=lag - in_flight, in_flight=in_flight)

    async def close(self) -> None:
        for consumer in self._consumers.values():
            await consumer.stop()
        self._consumers.clear()
        if self._probe is not None:
            await self._probe.stop()
            self._probe = None
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
