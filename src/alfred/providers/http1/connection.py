"""One keep-alive HTTP/1.1 connection: writes a request, parses its response as the bytes arrive.

One exchange at a time (no pipelining). The response's body is buffered as it comes and handed to
the reader in whatever pieces are there; past ``_HIGH_WATER`` bytes unread the socket stops being
read until the reader catches up, so a slow consumer never makes the connection buffer a whole
stream.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import cast

import httptools

from alfred.providers.http1.errors import Http1Error

_HIGH_WATER = 256 * 1024  # unread body bytes at which reading from the socket pauses
_LOW_WATER = 64 * 1024  # ... and resumes
_NO_BODY_STATUSES = frozenset({204, 304})


class Http1Connection(asyncio.Protocol):
    """The socket's protocol and the state of the exchange on it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._paused = False
        self.lost = False  # the socket is closed (by either side): never reuse
        self.idle_since = 0.0
        self._reset(head_only=False)

    def _reset(self, *, head_only: bool) -> None:
        self._head_only = head_only
        self._in_exchange = False
        self._status = 0
        self._headers: dict[str, str] = {}
        self._header_name = ""
        self._head: asyncio.Future[None] | None = None
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._waiter: asyncio.Future[None] | None = None
        self._complete = False
        self._keep_alive = False
        self._error: Exception | None = None
        self._body_delimited = False  # Content-Length or chunked: the end is known without EOF
        self._received_any = False

    # -- the exchange, as the client drives it

    def send(self, data: bytes, *, head_only: bool) -> asyncio.Future[None]:
        """Write a whole request; the returned future resolves once the response's head is in."""
        if self._transport is None or self.lost or self._in_exchange:
            raise Http1Error("connection is not ready for a request")
        self._reset(head_only=head_only)
        self._in_exchange = True
        self._head = self._loop.create_future()
        self._transport.write(data)
        return self._head

    @property
    def status(self) -> int:
        return self._status

    @property
    def headers(self) -> dict[str, str]:
        return self._headers

    @property
    def received_any(self) -> bool:
        """Whether any byte of the response came (a reused connection that broke before any did was stale)."""
        return self._received_any

    @property
    def complete(self) -> bool:
        """The whole response is in (possibly not yet read)."""
        return self._complete

    @property
    def reusable(self) -> bool:
        """Whether a new request may go out on this connection now."""
        return not self.lost and not self._in_exchange

    def at_eof(self) -> bool:
        """Everything of the body was read."""
        return self._complete and not self._chunks

    async def read_some(self) -> bytes:
        """The body bytes that are there (waiting for some), or ``b""`` once the body ended."""
        while not self._chunks:
            if self._complete:
                return b""
            if self._error is not None:
                raise self._error
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        data = self._chunks.popleft() if len(self._chunks) == 1 else b"".join(self._take_all())
        self._buffered -= len(data)
        if self._paused and self._buffered <= _LOW_WATER and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        return data

    def _take_all(self) -> list[bytes]:
        taken = list(self._chunks)
        self._chunks.clear()
        return taken

    def finish(self) -> bool:
        """End the exchange once its body was read; whether the connection can carry another."""
        if not self._complete or self._chunks or not self._keep_alive or self.lost:
            self.close()
            return False
        self._in_exchange = False
        self.idle_since = self._loop.time()
        return True

    def close(self) -> None:
        """Drop the connection; whatever of the exchange is left is abandoned (nobody is reading it)."""
        self.lost = True
        self._in_exchange = False
        if self._transport is not None:
            self._transport.close()

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # create_connection gives a stream transport (uvloop's is not an asyncio.Transport subclass).
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if not self._in_exchange or self._complete:
            # Bytes nobody asked for: the connection's state is unknown from here on.
            self.close()
            return
        self._received_any = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(Http1Error("upstream switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(Http1Error(f"malformed HTTP response: {exc}"))

    def eof_received(self) -> bool | None:
        return False  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self._in_exchange or self._complete or self._error is not None:
            return
        head_in = self._head is not None and self._head.done()
        if head_in and not self._body_delimited and exc is None:
            self._complete = True  # a body that ends where the connection does
            self._wake()
            return
        reason = f" ({exc})" if exc is not None else ""
        self._fail(Http1Error(f"upstream closed the connection before the response completed{reason}"))

    # -- httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            self._headers = {}  # an interim answer (100 Continue, 103 Early Hints): the real one follows
            return
        self._status = status
        headers = self._headers
        self._body_delimited = (
            "content-length" in headers
            or "chunked" in headers.get("transfer-encoding", "").lower()
            or status in _NO_BODY_STATUSES
        )
        head = self._head
        if head is not None and not head.done():
            head.set_result(None)
        if self._head_only:
            # The answer to HEAD has no body whatever its Content-Length says; the parser cannot know.
            self._complete = True
            self._keep_alive = False
            self._wake()

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)
        if not self._paused and self._buffered >= _HIGH_WATER and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if 100 <= self._parser.get_status_code() < 200 or self._complete:
            return
        self._complete = True
        self._keep_alive = self._parser.should_keep_alive()
        self._wake()

    # -- internals

    def _fail(self, error: Exception) -> None:
        self._error = error
        head = self._head
        if head is not None and not head.done():
            head.set_exception(error)
        self._wake()
        self.lost = True
        if self._transport is not None:
            self._transport.close()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
