"""What every data-plane endpoint shares: building the Call, running it, headers, finish hooks."""

from __future__ import annotations

import logging
import time

from alfred.api.http import Scope
from alfred.api.middleware.access_log import CALL_KEY
from alfred.pipeline.call import Call

log = logging.getLogger("alfred.api")


def client_ip(scope: Scope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


def alfred_headers(call: Call) -> dict[str, str]:
    """The response headers every answered call carries (plus what stages added)."""
    headers = dict(call.response_headers)
    if call.upstream_model:
        headers["x-alfred-model"] = call.upstream_model
    if call.provider:
        headers["x-alfred-provider"] = call.provider
    headers["x-alfred-latency-ms"] = f"{call.elapsed_ms():.2f}"
    if call.cache_status:
        headers.setdefault("x-alfred-cache", call.cache_status)
    return headers


async def finish(call: Call, scope: Scope) -> None:
    """Runs the stages' finish hooks once the response is over, then records a summary for the log."""
    if call.finished_ns is None:
        call.finished_ns = time.perf_counter_ns()
    for hook in call.finish_hooks:
        try:
            await hook(call)
        except Exception:
            log.exception("finish hook failed", extra={"request_id": call.request_id})
    scope[CALL_KEY] = call  # the access log builds the request's line from it (access_log.call_fields)
