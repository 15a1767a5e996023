"""GET /metrics: the Prometheus exposition of the gateway's metrics (every worker's, in multiprocess mode)."""

from __future__ import annotations

import asyncio

from alfred.api.http import Receive, Scope, Send, send_bytes
from alfred.observability.metrics import GatewayMetrics


class MetricsEndpoint:
    """Serves ``GatewayMetrics.render`` in the format the scraper asks for (text or OpenMetrics)."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        accept = None
        for name, value in scope["headers"]:
            if name == b"accept":
                accept = value.decode("latin-1")
                break
        # In multiprocess mode rendering reads every worker's files: off the event loop.
        render = self._metrics.render
        if self._metrics.multiprocess_dir is not None:
            body, content_type = await asyncio.to_thread(render, accept)
        else:
            body, content_type = render(accept)
        headers = ((b"content-type", content_type.encode("latin-1")), (b"cache-control", b"no-store"))
        await send_bytes(send, 200, body, base=headers)
