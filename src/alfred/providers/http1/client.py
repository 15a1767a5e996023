"""Requests over pooled HTTP/1.1 connections, answered as ``Http1Response``.

What it does on top of the pool: writes each request (head and body) in one ``write``, sends the
URL exactly as given (signed URLs keep their escapes), follows redirects the way aiohttp did (at
most 10; 303, and 301/302 after a POST, become a GET without body; credentials are not carried to
another origin), retries an idempotent request once when a reused connection turns out to have been
closed by the upstream before any byte of the answer, and inflates gzip and deflate bodies. Cookies
are never kept: every caller shares this client.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from alfred.providers.http1.connection import Http1Connection
from alfred.providers.http1.errors import Http1Error
from alfred.providers.http1.pool import ConnectionPool, Origin

_MEMO_LIMIT = 1024  # distinct URLs remembered before the memo starts over
_MAX_REDIRECTS = 10
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_CREDENTIALS = ("authorization", "cookie", "proxy-authorization")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# What aiohttp sent by default, minus its User-Agent (which named aiohttp and Python to every upstream).
_DEFAULTS = (("accept", "*/*"), ("accept-encoding", "gzip, deflate"))


@dataclass(frozen=True, slots=True)
class _Target:
    origin: Origin
    host_header: str
    path: str  # the request target: path and query, as given


class Http1Response:
    """An answer whose head is in; its body is read with ``read`` or piece by piece with ``read_some``.

    ``release`` hands the connection back for the next request once the body was read to its end
    (and closes it otherwise); ``close`` drops it, which is how an upstream learns the call was
    cancelled.
    """

    def __init__(self, pool: ConnectionPool, origin: Origin, connection: Http1Connection) -> None:
        self._loop = asyncio.get_running_loop()
        self._pool = pool
        self._origin = origin
        self._connection: Http1Connection | None = connection
        self.status = connection.status
        self.headers = connection.headers
        encoding = self.headers.get("content-encoding", "").strip().lower()
        # wbits 47: zlib or gzip framing, detected from the first bytes.
        self._inflate = zlib.decompressobj(47) if encoding in ("gzip", "deflate", "x-gzip") else None

    @property
    def complete(self) -> bool:
        """The whole body already arrived (reading it will not wait)."""
        return self._connection is None or self._connection.complete

    async def read(self) -> bytes:
        """The whole (inflated) body."""
        parts = []
        while data := await self.read_some():
            parts.append(data)
        return b"".join(parts)

    async def read_some(self) -> bytes:
        """The next body bytes (inflated), or ``b""`` at its end."""
        connection = self._connection
        if connection is None:
            return b""
        try:
            data = await connection.read_some()
        except BaseException:
            self.close()
            raise
        if self._inflate is None:
            return data
        try:
            if data:
                inflated = self._inflate.decompress(data)
                return inflated if inflated else await self.read_some()
            return self._inflate.flush()
        except zlib.error as exc:
            self.close()
            raise Http1Error(f"cannot inflate the response body: {exc}") from exc

    def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._pool.release(self._origin, connection, reusable=connection.finish())

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._pool.discard(self._origin, connection)

    def __del__(self) -> None:
        # A response dropped without release or close (a stream that was never iterated, say) still
        # holds its slot under the pool's limits; without this, enough of them would stall a host
        # for good. The cyclic collector may run on any thread: hand the drop to the loop.
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nothing left to free
                self._loop.call_soon_threadsafe(self._pool.discard, self._origin, connection)


class Http1Client:
    """One client for every upstream; create and use it on the running loop."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool
        self._targets: dict[str, _Target] = {}

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        *,
        connect_timeout: float,
    ) -> Http1Response:
        """Send a request; return once the answer's head is in (redirects followed)."""
        method = method.upper()
        for _ in range(_MAX_REDIRECTS):
            target = self._target(url)
            response = await self._exchange(method, target, headers, body, connect_timeout)
            location = response.headers.get("location")
            if response.status not in _REDIRECTS or location is None:
                return response
            response.close()  # its body is not wanted; closing beats reading an unknown length
            next_url = urljoin(url, location)
            if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                method, body = ("HEAD" if method == "HEAD" else "GET"), None
                headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
            if self._target(next_url).origin != target.origin:
                headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIALS}
            url = next_url
        raise Http1Error(f"more than {_MAX_REDIRECTS} redirects")

    async def close(self) -> None:
        await self._pool.close()

    async def _exchange(
        self,
        method: str,
        target: _Target,
        headers: Mapping[str, str],
        body: bytes | None,
        connect_timeout: float,
    ) -> Http1Response:
        data = _encode(method, target, headers, body)
        head_only = method == "HEAD"
        origin = target.origin
        connection, reused = await self._pool.acquire(origin, connect_timeout)
        try:
            await connection.send(data, head_only=head_only)
        except Http1Error:
            stale = reused and not connection.received_any
            self._pool.discard(origin, connection)
            if not (stale and method in _IDEMPOTENT):
                raise
            # The upstream had closed the idle connection; nothing of this request was answered.
            connection, _ = await self._pool.acquire(origin, connect_timeout)
            try:
                await connection.send(data, head_only=head_only)
            except BaseException:
                self._pool.discard(origin, connection)
                raise
        except BaseException:
            self._pool.discard(origin, connection)
            raise
        return Http1Response(self._pool, origin, connection)

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            if len(self._targets) >= _MEMO_LIMIT:
                self._targets.clear()
            target = self._targets[url] = _parse(url)
        return target


def _parse(url: str) -> _Target:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise Http1Error(f"not an http(s) URL: {url!r}")
    default_port = _DEFAULT_PORTS[scheme]
    try:
        port = parts.port or default_port
    except ValueError as exc:
        raise Http1Error(f"bad port in URL {url!r}") from exc
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == default_port else f"{shown}:{port}"
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return _Target(Origin(scheme, host, port), host_header, path)


def _encode(method: str, target: _Target, headers: Mapping[str, str], body: bytes | None) -> bytes:
    """The request's bytes: its line, headers (the caller's, then the defaults it did not set), body."""
    lines = [f"{method} {target.path} HTTP/1.1"]
    given = set()
    for name, value in headers.items():
        lower = name.lower()
        if lower in ("content-length", "transfer-encoding", "connection"):
            continue  # this client frames the body and manages the connection itself
        given.add(lower)
        lines.append(f"{name}: {value}")
    if "host" not in given:
        lines.append(f"Host: {target.host_header}")
    for name, value in _DEFAULTS:
        if name not in given:
            lines.append(f"{name}: {value}")
    if body:
        if "content-type" not in given:
            lines.append("content-type: application/octet-stream")
        lines.append(f"content-length: {len(body)}")
    elif method in _BODY_METHODS:
        lines.append("content-length: 0")
    head = "\r\n".join(lines)
    breaks = len(lines) - 1
    if head.count("\n") != breaks or head.count("\r") != breaks:
        # A CR or LF inside a name or value would start a header (or a request) of the value's making.
        raise Http1Error("a request header contains a line break")
    encoded = (head + "\r\n\r\n").encode("utf-8")
    return encoded + body if body else encoded
