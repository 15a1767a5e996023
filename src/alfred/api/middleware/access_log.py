"""The seed's Logger: one structured line per request, written when the response ends."""

from __future__ import annotations

import logging
import time
from typing import Any

from alfred.api.http import Receive, Scope, Send
from alfred.api.middleware.request_id import SCOPE_KEY

log = logging.getLogger("alfred.access")

SUMMARY_KEY = "alfred.summary"  # handlers put a dict of per-request facts here (model, tokens, cost…)


class AccessLogMiddleware:
    """Logs method, path, status, latency and the handler's summary; never bodies or keys."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def recording_send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        except BaseException:
            status = status or 500
            raise
        finally:
            fields: dict[str, Any] = {
                "request_id": scope.get(SCOPE_KEY),
                "method": scope.get("method"),
                "path": scope.get("path"),
                "status": status,
                "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            }
            summary = scope.get(SUMMARY_KEY)
            if isinstance(summary, dict):
                fields.update(summary)
            log.info("request", extra={"alfred": fields})
