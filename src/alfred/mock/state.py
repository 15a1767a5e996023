"""Per-instance mock state: the active fault, request counters and the last request seen."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import msgspec


class Fault(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    """What to do wrong. ``rate`` is the share of matching requests affected (0..1).

    ``status``: answer with this HTTP status (in the provider's error format); ``latency_ms``: wait
    before answering; ``hang``: never answer; ``drop_after_chunks``: cut streams after N chunks;
    ``slow_chunk_ms``: wait between stream chunks; ``path``: only paths starting with this;
    ``count``: only the next N matching requests.
    """

    status: int | None = None
    rate: float = 1.0
    latency_ms: int = 0
    hang: bool = False
    drop_after_chunks: int | None = None
    slow_chunk_ms: int = 0
    path: str | None = None
    count: int | None = None
    retry_after: int | None = None


@dataclass
class Decision:
    """The fault to apply to one request (all fields off when it is not affected)."""

    status: int | None = None
    latency_ms: int = 0
    hang: bool = False
    drop_after_chunks: int | None = None
    slow_chunk_ms: int = 0
    retry_after: int | None = None


@dataclass
class MockState:
    """Everything one mock instance remembers."""

    fault: Fault | None = None
    requests: Counter[str] = field(default_factory=Counter)
    streams_started: int = 0
    streams_completed: int = 0
    streams_cancelled: int = 0
    faults_injected: int = 0
    last_request: dict[str, Any] | None = None
    last_path: str | None = None
    last_headers: dict[str, str] = field(default_factory=dict)
    in_flight: int = 0
    rng: random.Random = field(default_factory=lambda: random.Random(7))  # noqa: S311  # nosec B311 - test faults

    def record(self, path: str, body: Any, headers: dict[str, str]) -> None:
        self.requests[path] += 1
        self.last_path = path
        self.last_request = body if isinstance(body, dict) else {"raw": body}
        self.last_headers = headers

    def decide(self, path: str) -> Decision:
        fault = self.fault
        if fault is None or (fault.path and not path.startswith(fault.path)):
            return Decision()
        if fault.count is not None and fault.count <= 0:
            return Decision()
        if fault.rate < 1.0 and self.rng.random() >= fault.rate:
            return Decision()
        if fault.count is not None:
            self.fault = msgspec.structs.replace(fault, count=fault.count - 1)
        self.faults_injected += 1
        return Decision(
            status=fault.status,
            latency_ms=fault.latency_ms,
            hang=fault.hang,
            drop_after_chunks=fault.drop_after_chunks,
            slow_chunk_ms=fault.slow_chunk_ms,
            retry_after=fault.retry_after,
        )

    def stats(self) -> dict[str, Any]:
        return {
            "total": sum(self.requests.values()),
            "requests": dict(self.requests),
            "streams": {
                "started": self.streams_started,
                "completed": self.streams_completed,
                "cancelled": self.streams_cancelled,
            },
            "faults_injected": self.faults_injected,
            "in_flight": self.in_flight,
        }

    def reset(self) -> None:
        self.requests.clear()
        self.streams_started = self.streams_completed = self.streams_cancelled = 0
        self.faults_injected = 0
        self.last_request = None
        self.last_path = None


async def hang_forever() -> None:
    await asyncio.Event().wait()
