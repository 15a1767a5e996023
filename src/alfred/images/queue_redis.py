"""``RedisStreamQueue``: a Redis stream per queue, one consumer group of competing workers.

- Delivery: ``XREADGROUP … >``; the entry sits in the group's pending list (PEL) until acked.
- Ack: ``XACK`` + ``XDEL`` in one transaction, so ``XLEN`` is exactly what is not yet done.
- A dead worker's entries: ``XAUTOCLAIM`` hands entries idle past the visibility timeout to the
  consumer that asks next (incrementing their delivery count); a live worker's ``touch`` is
  ``XCLAIM … JUSTID`` to itself, which resets the idle time without counting a delivery.
- Dead letters: ``XADD`` to ``<stream>:dead`` with the reason, then ack, in one transaction.

The client's socket timeout must exceed the longest ``block_s`` a consumer asks for.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from alfred.images.queue import Delivery, QueueDepth, QueueMessage

GROUP = "workers"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _message(fields: dict[Any, Any]) -> QueueMessage:
    decoded = {_text(k): _text(v) for k, v in fields.items()}
    return QueueMessage(job_id=decoded["job_id"], tenant=decoded["tenant"])


class RedisStreamQueue:
    """The ``JobQueue`` contract over Redis Streams (see the module docstring)."""

    def __init__(
        self,
        client: Redis,
        name: str,
        *,
        prefix: str = "alfred:images:",
        visibility_timeout_s: float = 60.0,
    ) -> None:
        self.name = name
        self._client = client
        self._stream = f"{prefix}q:{name}"
        self._dead = f"{self._stream}:dead"
        self._idle_ms = max(1, int(visibility_timeout_s * 1000))
        self._ready = False
        self._cursors: dict[str, str] = {}

    async def _ensure_group(self) -> None:
        if self._ready:
            return
        try:
            # id 0: entries added before any worker existed are delivered too
            await self._client.xgroup_create(self._stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._ready = True

    async def enqueue(self, message: QueueMessage) -> None:
        await self._ensure_group()
        await self._client.xadd(self._stream, {"job_id": message.job_id, "tenant": message.tenant})

    async def _reclaim(self, consumer: str, count: int) -> list[Delivery]:
        # XAUTOCLAIM looks at no more than 10 x count pending entries per call; carrying the cursor
        # over lets a long list of live entries never hide an abandoned one behind them
        start = self._cursors.get(consumer, "0-0")
        reply: Any = await self._client.xautoclaim(
            self._stream, GROUP, consumer, self._idle_ms, start, count=count
        )
        self._cursors[consumer] = _text(reply[0])
        entries = [(entry_id, fields) for entry_id, fields in reply[1] if fields]
        if not entries:
            return []
        async with self._client.pipeline(transaction=False) as pipe:
            for entry_id, _ in entries:
                pipe.xpending_range(self._stream, GROUP, entry_id, entry_id, 1)
            pending = await pipe.execute()
        out = []
        for (entry_id, fields), rows in zip(entries, pending, strict=True):
            deliveries = int(rows[0]["times_delivered"]) if rows else 1
            out.append(Delivery(_message(fields), _text(entry_id), deliveries, consumer))
        return out

    async def receive(self, consumer: str, count: int, block_s: float) -> list[Delivery]:
        if count <= 0:
            return []
        await self._ensure_group()
        out = await self._reclaim(consumer, count)
        if len(out) >= count:
            return out
        block = None if out else max(1, int(block_s * 1000))
        reply: Any = await self._client.xreadgroup(
            GROUP, consumer, {self._stream: ">"}, count=count - len(out), block=block
        )
        for _, entries in reply or []:
            for entry_id, fields in entries:
                out.append(Delivery(_message(fields), _text(entry_id), 1, consumer))
        return out

    async def ack(self, delivery: Delivery) -> None:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.xack(self._stream, GROUP, delivery.token)
            pipe.xdel(self._stream, delivery.token)
            await pipe.execute()

    async def touch(self, delivery: Delivery) -> None:
        await self._client.xclaim(
            self._stream, GROUP, delivery.consumer or "touch", 0, [delivery.token], justid=True
        )

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        fields = {
            "job_id": delivery.message.job_id,
            "tenant": delivery.message.tenant,
            "reason": reason,
            "deliveries": str(delivery.deliveries),
        }
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.xadd(self._dead, fields)  # type: ignore[arg-type]
            pipe.xack(self._stream, GROUP, delivery.token)
            pipe.xdel(self._stream, delivery.token)
            await pipe.execute()

    async def dead_letters(self, limit: int = 100) -> list[tuple[QueueMessage, str]]:
        rows: Any = await self._client.xrange(self._dead, "-", "+", count=limit)
        return [
            (_message(fields), _text(fields.get(b"reason", fields.get("reason", "")))) for _, fields in rows
        ]

    async def depth(self) -> QueueDepth:
        await self._ensure_group()
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.xlen(self._stream)
            pipe.xpending(self._stream, GROUP)
            length, pending = await pipe.execute()
        in_flight = int(pending["pending"])
        return QueueDepth(waiting=max(0, int(length) - in_flight), in_flight=in_flight)

    async def close(self) -> None:
        return None  # the client belongs to whoever built it
