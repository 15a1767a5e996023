"""The seed's outer chain, Recover → RequestID → Logger, as one layer with one wrapper around ``send``.

Each of the three needs to see the response start go by (Recover: whether a 500 can still be sent;
RequestID: to add ``x-request-id``; Logger: the status). Stacked, every request paid for three
middleware calls and three ``send`` wrappers per message; here it pays for one. Behaviour is the
stack's, outermost first: an unhandled exception is logged with the request id and becomes an
OpenAI-format 500 unless the response had started; the request line records 500 for it.
``RecoverMiddleware``, ``RequestIDMiddleware`` and ``AccessLogMiddleware`` remain for apps that
want one of the three alone.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from alfred.api.http import Receive, Scope, Send
from alfred.api.middleware.access_log import AccessLog, Redactor
from alfred.api.middleware.recover import send_internal_error
from alfred.api.middleware.request_id import SCOPE_KEY, RequestIds, incoming_request_id
from alfred.observability.logging import RequestLog

log = logging.getLogger("alfred.recover")


class EdgeMiddleware:
    """Recover, RequestID and the access log in one ASGI layer (see the module docstring)."""

    def __init__(
        self,
        app: Any,
        request_log: RequestLog | None = None,
        redact: Redactor | None = None,
        ids: RequestIds | None = None,
    ) -> None:
        self.app = app
        self._log = AccessLog(request_log, redact)
        self._ids = ids or RequestIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope) or self._ids.new()
        scope[SCOPE_KEY] = request_id
        id_header = (b"x-request-id", request_id.encode("latin-1"))
        logged = self._log.enabled()
        started = time.perf_counter() if logged else 0.0
        status = 0

        async def edge_send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            await self.app(scope, receive, edge_send)
        except BaseException as exc:
            if logged:
                self._log.write(scope, status or 500, time.perf_counter() - started)
            if not isinstance(exc, Exception):
                raise  # cancellation and exits are not errors to answer
            log.exception("unhandled error", extra={"request_id": request_id})
            if status:
                raise  # the response is under way; the server closes the connection
            await send_internal_error(send, request_id)
            return
        if logged:
            self._log.write(scope, status, time.perf_counter() - started)
