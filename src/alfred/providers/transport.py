"""Moves bytes to and from upstreams over pooled keep-alive connections (one aiohttp session).

The transport knows HTTP, timeouts and connection errors; it does not know any provider's format.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import yarl

from alfred.errors import UpstreamError, UpstreamTimeoutError
from alfred.providers.base import UpstreamRequest


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

    def __init__(self, response: aiohttp.ClientResponse, timeouts: Timeouts, provider: str) -> None:
        self._response = response
        self._timeouts = timeouts
        self._provider = provider
        self.status = response.status
        self.headers = {k.lower(): v for k, v in response.headers.items()}

    async def body(self) -> bytes:
        try:
            async with asyncio.timeout(self._timeouts.first_byte):
                return await self._response.read()
        finally:
            self._response.release()

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        content = self._response.content
        idle = self._timeouts.stream_idle
        while True:
            try:
                async with asyncio.timeout(idle):
                    data = await content.readany()
            except TimeoutError as exc:
                raise UpstreamTimeoutError(
                    f"{self._provider}: stream idle for more than {idle:g}s", code="stream_idle_timeout"
                ) from exc
            except aiohttp.ClientError as exc:
                raise UpstreamError(f"{self._provider}: stream broken ({type(exc).__name__})") from exc
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

    def __init__(self, *, limit: int = 1024, limit_per_host: int = 256) -> None:
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._limit,
                limit_per_host=self._limit_per_host,
                keepalive_timeout=30,
                ttl_dns_cache=300,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=True,
                skip_auto_headers=("User-Agent",),
                timeout=aiohttp.ClientTimeout(total=None),
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("transport not started; call start() on the running loop")
        return self._session

    async def send(self, request: UpstreamRequest, timeouts: Timeouts, provider: str) -> UpstreamResponse:
        """Send a request: headers within ``first_byte``, the whole response within ``total``."""
        try:
            async with asyncio.timeout(timeouts.total):
                response = await self._request(request, timeouts)
                try:
                    body = await response.read()
                finally:
                    response.release()
                headers = {k.lower(): v for k, v in response.headers.items()}
                return UpstreamResponse(response.status, headers, body)
        except TimeoutError as exc:
            raise UpstreamTimeoutError(f"{provider}: no complete answer within {timeouts.total:g}s") from exc
        except _FirstByteTimeout as exc:
            raise UpstreamTimeoutError(f"{provider}: no response within {timeouts.first_byte:g}s") from exc
        except aiohttp.ClientConnectorError as exc:
            raise UpstreamError(
                f"{provider}: cannot connect ({exc.os_error})", code="upstream_connect_error"
            ) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError(
                f"{provider}: {type(exc).__name__}: {exc}", code="upstream_connect_error"
            ) from exc

    async def _request(self, request: UpstreamRequest, timeouts: Timeouts) -> aiohttp.ClientResponse:
        try:
            async with asyncio.timeout(timeouts.first_byte):
                # encoded=True: send the URL exactly as the adapter built (and maybe signed) it.
                return await self.session.request(
                    request.method,
                    yarl.URL(request.url, encoded=True),
                    headers=request.headers,
                    data=request.body,
                    timeout=aiohttp.ClientTimeout(sock_connect=timeouts.connect, connect=timeouts.connect),
                )
        except TimeoutError as exc:
            raise _FirstByteTimeout from exc

    async def open_stream(
        self, request: UpstreamRequest, timeouts: Timeouts, provider: str
    ) -> UpstreamStream:
        """Send a request and return once the response headers are in (bounded by first_byte)."""
        try:
            response = await self._request(request, timeouts)
        except _FirstByteTimeout as exc:
            raise UpstreamTimeoutError(f"{provider}: no response within {timeouts.first_byte:g}s") from exc
        except aiohttp.ClientConnectorError as exc:
            raise UpstreamError(
                f"{provider}: cannot connect ({exc.os_error})", code="upstream_connect_error"
            ) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError(
                f"{provider}: {type(exc).__name__}: {exc}", code="upstream_connect_error"
            ) from exc
        return UpstreamStream(response, timeouts, provider)


class _FirstByteTimeout(Exception):
    """Internal: the headers did not arrive in time (kept apart from the total timeout)."""
