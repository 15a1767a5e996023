"""Moves bytes to and from upstreams over pooled keep-alive connections (Alfred's HTTP/1.1 client).

The transport knows HTTP, timeouts and connection errors; it does not know any provider's format.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from alfred.deadlines import Deadlines
from alfred.errors import UpstreamError, UpstreamTimeoutError
from alfred.providers.base import UpstreamRequest
from alfred.providers.http1 import Http1Client, Http1ConnectError, Http1Error, Http1Response
from alfred.providers.http1.pool import ConnectionPool


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-provider limits in seconds: connect, first byte (headers), whole call, stream idle gap."""

    connect: float = 10.0
    first_byte: float = 120.0
    total: float = 600.0
    stream_idle: float = 60.0


@dataclass(slots=True)
class UpstreamResponse:
    status: int
    headers: dict[str, str]
    body: bytes


class UpstreamStream:
    """An open upstream response whose body is read incrementally; ``close`` cancels the upstream."""

    def __init__(
        self, response: Http1Response, timeouts: Timeouts, provider: str, deadlines: Deadlines
    ) -> None:
        self._deadlines = deadlines
        self._response = response
        self._timeouts = timeouts
        self._provider = provider
        self.status = response.status
        self.headers = response.headers

    async def body(self) -> bytes:
        try:
            async with self._deadlines.after(self._timeouts.first_byte):
                return await self._response.read()
        finally:
            self._response.release()

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        response = self._response
        idle = self._timeouts.stream_idle
        while True:
            try:
                async with self._deadlines.after(idle):
                    data = await response.read_some()
            except TimeoutError as exc:
                raise UpstreamTimeoutError(
                    f"{self._provider}: stream idle for more than {idle:g}s", code="stream_idle_timeout"
                ) from exc
            except Http1Error as exc:
                raise UpstreamError(f"{self._provider}: stream broken ({exc})") from exc
            if not data:
                return
            yield data

    def release(self) -> None:
        """Hand the connection back to the pool once the body was read to its end."""
        self._response.release()

    def close(self) -> None:
        """Drop the connection (not back to the pool): the upstream sees the request cancelled."""
        self._response.close()


class HttpTransport:
    """One pooled HTTP client for every upstream host, created on the running loop."""

    def __init__(
        self, *, limit: int = 1024, limit_per_host: int = 256, deadlines: Deadlines | None = None
    ) -> None:
        self._deadlines = deadlines or Deadlines()
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._client: Http1Client | None = None

    async def start(self) -> None:
        if self._client is None:
            pool = ConnectionPool(limit=self._limit, limit_per_host=self._limit_per_host, keepalive_s=30)
            self._client = Http1Client(pool)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    @property
    def client(self) -> Http1Client:
        if self._client is None:
            raise RuntimeError("transport not started; call start() on the running loop")
        return self._client

    async def send(self, request: UpstreamRequest, timeouts: Timeouts, provider: str) -> UpstreamResponse:
        """Send a request: headers within ``first_byte``, the whole response within ``total``."""
        # One deadline scope for both limits: it starts at the earlier limit and moves to ``total``
        # once the headers are in.
        first_byte_first = timeouts.first_byte < timeouts.total
        headers_in = False
        scope = self._deadlines.after(timeouts.first_byte if first_byte_first else timeouts.total)
        try:
            async with scope:
                began = scope.loop.time()
                response = await self._request(request, timeouts)
                headers_in = True
                if first_byte_first and not response.complete:
                    # Only a body still on its way needs the later deadline; one that came with
                    # the headers is read without waiting.
                    scope.reschedule(began + timeouts.total)
                try:
                    body = await response.read()
                finally:
                    response.release()
                return UpstreamResponse(response.status, response.headers, body)
        except TimeoutError as exc:
            # The connect timeout is a TimeoutError too, and comes before the headers.
            if not headers_in and (first_byte_first or not scope.expired()):
                raise UpstreamTimeoutError(
                    f"{provider}: no response within {timeouts.first_byte:g}s"
                ) from exc
            raise UpstreamTimeoutError(f"{provider}: no complete answer within {timeouts.total:g}s") from exc
        except Http1Error as exc:
            raise _upstream_error(provider, exc) from exc

    async def _request(self, request: UpstreamRequest, timeouts: Timeouts) -> Http1Response:
        """Send and wait for the response's headers, within the caller's deadline scope."""
        return await self.client.request(
            request.method, request.url, request.headers, request.body, connect_timeout=timeouts.connect
        )

    async def open_stream(
        self, request: UpstreamRequest, timeouts: Timeouts, provider: str
    ) -> UpstreamStream:
        """Send a request and return once the response headers are in (bounded by first_byte)."""
        try:
            async with self._deadlines.after(timeouts.first_byte):
                response = await self._request(request, timeouts)
        except TimeoutError as exc:
            raise UpstreamTimeoutError(f"{provider}: no response within {timeouts.first_byte:g}s") from exc
        except Http1Error as exc:
            raise _upstream_error(provider, exc) from exc
        return UpstreamStream(response, timeouts, provider, self._deadlines)


def _upstream_error(provider: str, exc: Http1Error) -> UpstreamError:
    """The client's failure as the gateway reports it (both before and after the response's head)."""
    if isinstance(exc, Http1ConnectError):
        return UpstreamError(f"{provider}: cannot connect ({exc.os_error})", code="upstream_connect_error")
    return UpstreamError(f"{provider}: {exc}", code="upstream_connect_error")
