"""Job events (queued → routed → running → progress … → succeeded | failed | cancelled) over pub/sub.

Events are a live feed, not a record: the job store is the record. A listener that subscribes late
(or misses a message, Redis pub/sub being fire-and-forget) reads the job itself and catches up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec
from msgspec import Struct

from alfred.state.base import PubSub


class JobEvent(Struct, frozen=True, kw_only=True):
    """One step of a job; ``type`` is a job state or ``progress``."""

    type: str
    job_id: str
    at: float
    progress: float | None = None
    message: str = ""


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(JobEvent)


class JobEvents:
    """Publishes and subscribes to one channel per job."""

    def __init__(self, pubsub: PubSub, prefix: str = "images:job:") -> None:
        self._pubsub = pubsub
        self._prefix = prefix

    async def publish(self, event: JobEvent) -> None:
        await self._pubsub.publish(self._prefix + event.job_id, _encoder.encode(event))

    @asynccontextmanager
    async def subscribe(self, job_id: str) -> AsyncIterator[AsyncIterator[JobEvent]]:
        async with self._pubsub.subscribe(self._prefix + job_id) as messages:

            async def decoded() -> AsyncIterator[JobEvent]:
                async for raw in messages:
                    try:
                        yield _decoder.decode(raw)
                    except msgspec.DecodeError:
                        continue

            yield decoded()
