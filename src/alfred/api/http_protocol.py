"""uvicorn's httptools protocol with the limits it lacks: header size, header and body read deadlines.

uvicorn with httptools (llhttp) accepts request heads of any size and waits for them for ever: it
only times out idle keep-alive connections, and a byte of new data cancels even that. One client
sending headers a byte at a time (slowloris) holds a connection, and a head of megabytes holds
memory, as long as it likes. ``GuardedHttpToolsProtocol`` adds, per connection:

- ``max_header_bytes``: the request line and headers together; past it the client gets 431.
- ``header_timeout_s``: from connection open (or the first byte of a keep-alive request) until the
  head is complete, whatever the pace; then 408 and the connection is closed.
- ``body_timeout_s``: from the end of the head until the whole body is in; then 408 (or, once the
  response has started, just the close).

It also hands the socket each response's head together with its body (``HeadWithBody``): one
``send`` and one TCP segment for a JSON answer instead of two.

Errors it answers itself (these, and uvicorn's 400 for malformed HTTP) are OpenAI-format JSON
like every other error. Idle keep-alive connections stay uvicorn's business (``timeout_keep_alive``).
Pass ``guarded_http(limits)`` to uvicorn as ``http=``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

_IDLE, _HEAD, _BODY = 0, 1, 2  # what a connection is waiting for: nothing, a request head, a body

_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """What one HTTP connection may take before the server cuts it off."""

    max_header_bytes: int = 32 * 1024
    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if self.max_header_bytes < 1024 or self.header_timeout_s <= 0 or self.body_timeout_s <= 0:
            raise ValueError("connection limits must be positive (and headers at least 1024 bytes)")


def error_response(status: int, message: str, code: str) -> bytes:
    """A complete HTTP/1.1 response carrying an OpenAI-format error, closing the connection."""
    body = msgspec.json.encode(
        {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
    )
    head = (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
        % (status, _REASONS[status], len(body))
    )
    return head + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` plus the limits in the module docstring."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: ConnectionLimits | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._limits = limits or ConnectionLimits()
        self._head_bytes = 0
        self._reading_head = True
        self._deadline: asyncio.TimerHandle | None = None
        # What the connection waits for (_HEAD, _BODY or nothing) and which deadline is armed. The
        # parser callbacks only note the phase; the timer follows at the end of ``data_received``,
        # so a request whose head and body arrive in one read (the usual case) arms none at all.
        self._phase = _IDLE
        self._armed = _IDLE

    # --- connection events ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._phase = _HEAD
        self._settle()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        try:
            self._feed(data)
        finally:
            self._settle()

    def _feed(self, data: bytes) -> None:
        # Fed in slices while the head is being read, so the parser never holds more than the limit.
        limit = self._limits.max_header_bytes
        while data:
            if not self._reading_head:
                super().data_received(data)
                return
            room = limit - self._head_bytes
            if len(data) <= room:
                piece, data = data, b""
            else:
                piece, data = data[:room], data[room:]
            self._head_bytes += len(piece)
            super().data_received(piece)
            if self.transport.is_closing():
                return
            if self._reading_head and self._head_bytes >= limit:
                self._refuse(431, f"the request head exceeds {limit} bytes", "request_header_too_large")
                return

    # --- parser callbacks -------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._phase == _IDLE:  # a keep-alive request: its clock starts with its first byte
            self._phase = _HEAD

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._phase = _BODY
        self._disarm()  # the body's clock starts now, whatever the head's had left
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.transport is self.transport:  # made just now, not yet run
            cycle.transport = HeadWithBody(self.transport, self.loop)

    def on_message_complete(self) -> None:
        self._phase = _IDLE
        self._reading_head = True
        self._head_bytes = 0
        super().on_message_complete()

    # --- refusals ---------------------------------------------------------------------------------

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, msg, "invalid_http")

    def _head_too_slow(self) -> None:
        self._deadline, self._armed = None, _IDLE
        seconds = self._limits.header_timeout_s
        self._refuse(408, f"the request head did not arrive within {seconds:g}s", "request_timeout")

    def _body_too_slow(self) -> None:
        self._deadline, self._armed = None, _IDLE
        if self.cycle is not None and self.cycle.response_complete:
            # Answered already (say, a 413 before the body was in): the rest of it will not be read.
            self.transport.close()
            return
        seconds = self._limits.body_timeout_s
        self._refuse(408, f"the request body did not arrive within {seconds:g}s", "request_timeout")

    def _refuse(self, status: int, message: str, code: str) -> None:
        self._disarm()
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and isinstance(cycle.transport, HeadWithBody):
            cycle.transport.flush()  # a response head held back goes out before anything else
        # Answer unless a response is under way on this connection (its bytes must not be interleaved).
        if cycle is None or cycle.response_complete or not cycle.response_started:
            self.transport.write(error_response(status, message, code))
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the app's reads end and its writes are dropped
            cycle.message_event.set()
        self.transport.close()

    def _settle(self) -> None:
        """Arm the deadline of the phase the connection is in, unless it is armed already."""
        if self._phase == self._armed or self.transport is None or self.transport.is_closing():
            return
        self._disarm()
        if self._phase == _HEAD:
            self._deadline = self.loop.call_later(self._limits.header_timeout_s, self._head_too_slow)
        elif self._phase == _BODY:
            self._deadline = self.loop.call_later(self._limits.body_timeout_s, self._body_too_slow)
        self._armed = self._phase

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._armed = _IDLE


class HeadWithBody(asyncio.Transport):
    """One response's view of the connection: its head is held back until its first body bytes (or
    the end of the loop turn) so that both leave in one write. uvicorn writes the status line and
    headers as soon as the app sends ``http.response.start`` and the body on the next message; a
    JSON answer (both sent in the same turn) then costs two ``send`` calls and two TCP segments.
    Held at most until the loop's next turn, so a stream's headers are never kept waiting."""

    __slots__ = ("_flush_soon", "_held", "_loop", "_transport", "_wrote")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._flush_soon: asyncio.Handle | None = None
        self._wrote = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._wrote:  # the head: the first write of a response
            self._wrote = True
            self._held = bytes(data)
            self._flush_soon = self._loop.call_soon(self.flush)
            return
        held = self._held
        if held is not None:
            self._held = None
            if self._flush_soon is not None:
                self._flush_soon.cancel()
                self._flush_soon = None
            if len(data) <= _JOIN_LIMIT:
                self._transport.write(held + data)
                return
            self._transport.write(held)
        self._transport.write(data)

    def flush(self) -> None:
        held, self._held = self._held, None
        self._flush_soon = None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)


# Bodies up to this size are joined to the head in one buffer; larger ones are written after it.
_JOIN_LIMIT = 64 * 1024


def guarded_http(limits: ConnectionLimits) -> Callable[..., GuardedHttpToolsProtocol]:
    """The protocol factory for ``uvicorn.run(http=...)``; picklable, so worker processes get it too."""
    return functools.partial(GuardedHttpToolsProtocol, limits=limits)
