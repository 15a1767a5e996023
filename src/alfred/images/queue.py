"""The ``JobQueue`` contract: at-least-once delivery of job ids to a group of competing workers.

Three backends keep the same contract (``tests/integration/images/test_queue_contract.py`` runs one
suite against each): ``queue_memory`` (in this process), ``queue_redis`` (Redis Streams with a
consumer group) and ``queue_kafka`` (aiokafka).

The contract:

- ``enqueue`` appends a message; ``receive`` hands each message to one consumer at a time.
- A delivered message stays *in flight* until ``ack``. If its consumer stops calling ``touch`` for
  longer than the visibility timeout (it died, or hangs), the message is delivered again to
  whichever consumer asks next, with ``deliveries`` one higher. Work is therefore at least once;
  the job store's compare-and-set makes its effects exactly once.
- ``dead_letter`` moves a message to the dead-letter list (and acks it); consumers do this when
  ``deliveries`` passes the configured maximum, so a job that kills every worker stops circulating.
- ``depth`` counts messages not yet acked: waiting plus in flight.
"""

from __future__ import annotations

from typing import Protocol

from msgspec import Struct

# The three records below are frozen msgspec structs rather than frozen dataclasses: every job makes
# a message and a delivery, and a frozen dataclass sets each field through object.__setattr__, which
# made building one cost eight times as much (a simulated month builds millions).


class QueueMessage(Struct, frozen=True):
    """What travels on the queue: only the job's id and tenant (the job store has the rest)."""

    job_id: str
    tenant: str


class Delivery(Struct, frozen=True):
    """One hand-over of a message to a consumer; ``token`` names it for ``ack``/``touch``."""

    message: QueueMessage
    token: str
    deliveries: int  # 1 on first delivery, +1 per redelivery
    consumer: str = ""


class QueueDepth(Struct, frozen=True):
    """How much work the queue holds: not yet started, and started but not acked."""

    waiting: int
    in_flight: int

    @property
    def total(self) -> int:
        return self.waiting + self.in_flight


class JobQueue(Protocol):
    """A work queue shared by competing consumers (see the module docstring for the contract)."""

    name: str

    async def enqueue(self, message: QueueMessage) -> None: ...

    async def receive(self, consumer: str, count: int, block_s: float) -> list[Delivery]:
        """Up to ``count`` deliveries (redeliveries of abandoned messages first), waiting up to ``block_s``."""
        ...

    async def ack(self, delivery: Delivery) -> None:
        """The message is done: it leaves the queue for good."""
        ...

    async def touch(self, delivery: Delivery) -> None:
        """The consumer is alive and still working: restart the visibility timeout."""
        ...

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Park the message on the dead-letter list with ``reason`` and ack it."""
        ...

    async def dead_letters(self, limit: int = 100) -> list[tuple[QueueMessage, str]]:
        """The dead-lettered messages, oldest first, with their reasons."""
        ...

    async def depth(self) -> QueueDepth: ...

    async def close(self) -> None: ...
