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


def incoming_request_id(scope: Scope) -> str | None:
    """The caller's ``X-Request-ID`` when it is sane (1-128 of ``[A-Za-z0-9._:-]``), else None."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _SANE.match(candidate) else None
    return None


class RequestIds:
    """Mints request ids: 128 random bits as 32 hex digits (what ``uuid4().hex`` gave).

    The randomness is read from the OS a few kilobytes at a time rather than one system call per
    request; each id still takes 16 bytes of it that no other id shares.
    """

    def __init__(self, batch: int = 256) -> None:
        self._batch = batch
        self._hex = ""
        self._at = 0

    def new(self) -> str:
        if self._at >= len(self._hex):
            self._hex = os.urandom(16 * self._batch).hex()
            self._at = 0
        start = self._at
        self._at = start + 32
        return self._hex[start : start + 32]


class RequestIDMiddleware:
    """Sets ``scope['alfred.request_id']`` and adds ``x-request-id`` to the response."""

    def __init__(self, app: Any, ids: RequestIds | None = None) -> None:
        self.app = app
        self._ids = ids or RequestIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope) or self._ids.new()
        scope[SCOPE_KEY] = request_id
        header = (b"x-request-id", request_id.encode("latin-1"))

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        await self.app(scope, receive, send_with_id)
