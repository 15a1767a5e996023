"""Gives every request an id (the caller's ``X-Request-ID`` if sane, else a new one) and echoes it."""

from __future__ import annotations

import os
import re
from typing import Any

from alfred.api.http import Receive, Scope, Send

SCOPE_KEY = "alfred.request_id"
_SANE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def request_id_of(scope: Scope) -> str | None:
    value = scope.get(SCOPE_KEY)
    return value if isinstance(value, str) else None


class RequestIDMiddleware:
    """Sets ``scope['alfred.request_id']`` and adds ``x-request-id`` to the response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                if _SANE.match(candidate):
                    request_id = candidate
                break
        if request_id is None:
            # 128 random bits as 32 hex digits, as uuid4().hex gave, at a third of its cost.
            request_id = os.urandom(16).hex()
        scope[SCOPE_KEY] = request_id
        header = (b"x-request-id", request_id.encode("latin-1"))

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        await self.app(scope, receive, send_with_id)
