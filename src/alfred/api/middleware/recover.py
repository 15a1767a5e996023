"""The seed's Recover: an unhandled exception becomes a 500 in OpenAI format, never a dropped socket."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from alfred.api.errors import error_body
from alfred.api.http import JSON_HEADERS, Receive, Scope, Send
from alfred.api.middleware.request_id import SCOPE_KEY
from alfred.errors import AlfredError

log = logging.getLogger("alfred.recover")


class RecoverMiddleware:
    """Catches what escaped every handler; logs the cause, tells the client only the request id."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            request_id = scope.get(SCOPE_KEY) or uuid.uuid4().hex
            log.exception("unhandled error", extra={"request_id": request_id})
            if started:
                raise  # the response is under way; the server closes the connection
            await send_internal_error(send, request_id)


async def send_internal_error(send: Send, request_id: str) -> None:
    """A 500 in OpenAI format that tells the client only the request id to quote."""
    error = AlfredError(f"internal error; quote request id {request_id} when reporting it")
    body = error_body(error, request_id)
    headers = [
        *JSON_HEADERS,
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
    ]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})
