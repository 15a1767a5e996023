"""The Metrics stage: requests in flight, and one observation per request once it has finished.

A whole response is recorded when the endpoint's finish hooks run (after the body was sent and after
the stages outside this one, the ledger's settle among them, filled in the cost); a stream when its
last chunk went out or it was cut or cancelled. A failure raised through this stage is recorded on
the spot, because nothing guarantees a finish hook for it.

Latency is split: upstream time is what ``call.upstream_ns`` says the provider took (for a stream,
to its first chunk); gateway overhead is the rest of the request's time (for a stream, of the time to
the first chunk the client got), so retries' backoff and failed attempts count as overhead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from alfred.errors import AlfredError
from alfred.observability.metrics import GatewayMetrics
from alfred.pipeline.call import Call, Result
from alfred.pipeline.stage import Next

# alfred.ledger.money's unit (1 USD = 10⁸ micro-credits), repeated so this stage does not import the
# ledger package (and SQLAlchemy with it); a unit test holds the two equal.
MICROS_PER_USD = 100_000_000
_NS = 1e-9


def status_of(call: Call, error: BaseException | None = None) -> int:
    """The HTTP status the client saw, or 499 when it went away first."""
    error = error if error is not None else call.error
    if isinstance(error, AlfredError):
        return error.status
    if isinstance(error, asyncio.CancelledError) or call.outcome == "cancelled":
        return 499
    return 500 if error is not None else 200


def latency_split(call: Call, end_ns: int) -> tuple[int, int, int | None]:
    """(total, gateway overhead, time to first chunk or None) in ns; see the module docstring."""
    total = end_ns - call.started_ns
    first = call.first_chunk_ns
    if first is None:
        return total, max(total - call.upstream_ns, 0), None
    ttft = first - call.started_ns
    return total, max(ttft - call.upstream_ns, 0), ttft


class MetricsStage:
    """Pipeline stage ``metrics``: counts requests in flight and records each one when it ends."""

    name = "metrics"

    def __init__(self, metrics: GatewayMetrics, clock: Callable[[], int] = time.perf_counter_ns) -> None:
        self._metrics = metrics
        self._clock = clock

    async def __call__(self, call: Call, next: Next) -> Result:
        self._metrics.in_flight(call.endpoint).inc()
        try:
            result = await next(call)
        except BaseException as exc:
            self.record(call, exc)
            raise
        call.on_finish(self._on_finish)
        return result

    async def _on_finish(self, call: Call) -> None:
        self.record(call)

    def record(self, call: Call, error: BaseException | None = None) -> None:
        """Take the call out of the in-flight count and observe it."""
        metrics = self._metrics
        metrics.in_flight(call.endpoint).inc(-1)
        total, overhead, ttft = latency_split(call, call.finished_ns or self._clock())
        upstream = call.upstream_ns
        usage = call.usage
        cost = call.cost_micros
        metrics.request(
            (
                call.endpoint,
                call.model_group,
                call.provider,
                call.upstream_model,
                status_of(call, error),
                call.cache_status,
                call.identity.team_id,
            ),
            total_s=total * _NS,
            overhead_s=overhead * _NS,
            upstream_s=upstream * _NS if upstream else None,
            ttft_s=ttft * _NS if ttft is not None else None,
            tokens_in=usage.prompt_tokens if usage is not None else 0,
            tokens_out=usage.completion_tokens if usage is not None else 0,
            cost_usd=cost / MICROS_PER_USD if cost else None,
        )
