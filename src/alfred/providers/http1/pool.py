"""Keep-alive connections per origin, opened on demand, within a total and a per-host limit.

The limits count connections in use (as aiohttp's did): a caller past either waits for one to come
back. Idle connections are reused newest first (the ones an upstream is least likely to have timed
out); one idle for longer than ``keepalive_s``, or that the upstream closed, is dropped instead.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from dataclasses import dataclass

from alfred.providers.http1.connection import Http1Connection
from alfred.providers.http1.errors import Http1ConnectError


@dataclass(frozen=True, slots=True)
class Origin:
    """Where connections go: scheme, host and port (a connection serves one origin only)."""

    scheme: str
    host: str
    port: int

    @property
    def tls(self) -> bool:
        return self.scheme == "https"


class ConnectionPool:
    """Connections by origin, with a bounded number in use at once."""

    def __init__(
        self,
        *,
        limit: int,
        limit_per_host: int,
        keepalive_s: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._keepalive_s = keepalive_s
        self._ssl_context = ssl_context
        self._idle: dict[Origin, deque[Http1Connection]] = {}
        self._in_use: dict[Origin, int] = {}
        self._in_use_total = 0
        self._waiters: deque[tuple[Origin, asyncio.Future[None]]] = deque()
        self._closed = False

    async def acquire(self, origin: Origin, connect_timeout: float) -> tuple[Http1Connection, bool]:
        """A connection to ``origin`` and whether it was reused (rather than opened for this call)."""
        if self._closed:
            raise RuntimeError("connection pool is closed")
        if not self._has_room(origin):
            await self._wait_for_room(origin)
        self._in_use[origin] = self._in_use.get(origin, 0) + 1
        self._in_use_total += 1
        try:
            reused = self._idle_connection(origin)
            if reused is not None:
                return reused, True
            return await self._connect(origin, connect_timeout), False
        except BaseException:
            self._give_back_slot(origin)
            raise

    def release(self, origin: Origin, connection: Http1Connection, *, reusable: bool) -> None:
        """Hand a connection back: kept for the next call when ``reusable``, closed otherwise."""
        self._give_back_slot(origin)
        if not reusable or self._closed or connection.lost:
            connection.close()
            return
        idle = self._idle.get(origin)
        if idle is None:
            idle = self._idle[origin] = deque()
        idle.append(connection)
        # The oldest idle connections sit at the far end; drop the ones that died or aged meanwhile.
        oldest_allowed = connection.idle_since - self._keepalive_s
        while idle and (idle[0].lost or idle[0].idle_since < oldest_allowed):
            idle.popleft().close()

    def discard(self, origin: Origin, connection: Http1Connection) -> None:
        """Close a connection whose exchange was abandoned and free its slot."""
        self.release(origin, connection, reusable=False)

    def idle_count(self, origin: Origin) -> int:
        return len(self._idle.get(origin, ()))

    async def close(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
        for _, waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(RuntimeError("connection pool is closed"))
        self._waiters.clear()

    # -- internals

    def _has_room(self, origin: Origin) -> bool:
        return self._in_use_total < self._limit and self._in_use.get(origin, 0) < self._limit_per_host

    async def _wait_for_room(self, origin: Origin) -> None:
        loop = asyncio.get_running_loop()
        while not self._has_room(origin):
            waiter: asyncio.Future[None] = loop.create_future()
            entry = (origin, waiter)
            self._waiters.append(entry)
            try:
                await waiter
            except asyncio.CancelledError:
                if entry in self._waiters:
                    self._waiters.remove(entry)
                elif waiter.done() and not waiter.cancelled():
                    self._wake_one()  # the room it was woken for goes to the next in line
                raise

    def _give_back_slot(self, origin: Origin) -> None:
        count = self._in_use[origin] - 1
        if count:
            self._in_use[origin] = count
        else:
            del self._in_use[origin]
        self._in_use_total -= 1
        if self._waiters:
            self._wake_one()

    def _wake_one(self) -> None:
        for entry in self._waiters:
            origin, waiter = entry
            if self._has_room(origin):
                self._waiters.remove(entry)
                if not waiter.done():
                    waiter.set_result(None)
                return

    def _idle_connection(self, origin: Origin) -> Http1Connection | None:
        idle = self._idle.get(origin)
        if not idle:
            return None
        loop_time = asyncio.get_running_loop().time()
        while idle:
            connection = idle.pop()
            if connection.reusable and loop_time - connection.idle_since < self._keepalive_s:
                return connection
            connection.close()
        return None

    async def _connect(self, origin: Origin, connect_timeout: float) -> Http1Connection:
        loop = asyncio.get_running_loop()
        context = self._tls_context() if origin.tls else None
        try:
            async with asyncio.timeout(connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: Http1Connection(loop),
                    origin.host,
                    origin.port,
                    ssl=context,
                    server_hostname=origin.host if context is not None else None,
                )
        except OSError as exc:  # refused, unreachable, DNS (gaierror) and TLS (SSLError) alike
            raise Http1ConnectError(origin.host, origin.port, exc) from exc
        return connection

    def _tls_context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            context = ssl.create_default_context()
            context.set_alpn_protocols(["http/1.1"])
            self._ssl_context = context
        return self._ssl_context
