"""Moves bytes to and from upstreams over pooled keep-alive connections (one aiohttp session).

The transport knows HTTP, timeouts and connection errors; it does not know any provider's format.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

import aiohttp
import yarl

from alfred.deadlines import Deadlines
from alfred.errors import UpstreamError, UpstreamTimeoutError
from alfred.providers.base import UpstreamRequest

_MEMO_LIMIT = 1024  # distinct URLs / connect limits remembered before the memo starts over


class _AnonymousRequest(aiohttp.ClientRequest):
    """aiohttp's request without its ``User-Agent`` (it names aiohttp and Python to every upstream).

    The session's ``skip_auto_headers`` would do the same but rebuilds a header multidict on every
    request; this leaves the header out for free.
    """

    def update_auto_headers(self, skip_auto_headers: Iterable[str] | None) -> None:
        if skip_auto_headers is not None:
            super().update_auto_headers((*skip_auto_headers, "User-Agent"))
            return
        for name, value in self.DEFAULT_HEADERS.items():
            if name not in self.headers:
                self.headers[name] = value


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
        self, response: aiohttp.ClientResponse, timeouts: Timeouts, provider: str, deadlines: Deadlines
    ) -> None:
        self._deadlines = deadlines
        self._response = response
        self._timeouts = timeouts
        self._provider = provider
        self.status = response.status
        self.headers = {k.lower(): v for k, v in response.headers.items()}

    async def body(self) -> bytes:
        try:
            async with self._deadlines.after(self._timeouts.first_byte):
                return await self._response.read()
        finally:
            self._response.release()

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        content = self._response.content
        idle = self._timeouts.stream_idle
        while True:
            try:
                async with self._deadlines.after(idle):
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

    def __init__(
        self, *, limit: int = 1024, limit_per_host: int = 256, deadlines: Deadlines | None = None
    ) -> None:
        self._deadlines = deadlines or Deadlines()
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._session: aiohttp.ClientSession | None = None
        # Built once per distinct value, not per request.
        self._urls: dict[str, yarl.URL] = {}
        self._connect_timeouts: dict[float, aiohttp.ClientTimeout] = {}

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
                timeout=aiohttp.ClientTimeout(total=None),
                request_class=_AnonymousRequest,
                # Every caller shares this client: a cookie an upstream set for one caller's request
                # (a CDN's affinity cookie, say) must not ride on the next caller's.
                cookie_jar=aiohttp.DummyCookieJar(),
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
                if first_byte_first and not response.content.is_eof():
                    # Only a body still on its way needs the later deadline; one that came with
                    # the headers is read without waiting.
                    scope.reschedule(began + timeouts.total)
                try:
                    body = await response.read()
                finally:
                    response.release()
                headers = {k.lower(): v for k, v in response.headers.items()}
                return UpstreamResponse(response.status, headers, body)
        except TimeoutError as exc:
            # aiohttp's own connect timeout is a TimeoutError too, and comes before the headers.
            if not headers_in and (first_byte_first or not scope.expired()):
                raise UpstreamTimeoutError(
                    f"{provider}: no response within {timeouts.first_byte:g}s"
                ) from exc
            raise UpstreamTimeoutError(f"{provider}: no complete answer within {timeouts.total:g}s") from exc
        except aiohttp.ClientConnectorError as exc:
            raise UpstreamError(
                f"{provider}: cannot connect ({exc.os_error})", code="upstream_connect_error"
            ) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError(
                f"{provider}: {type(exc).__name__}: {exc}", code="upstream_connect_error"
            ) from exc

    async def _request(self, request: UpstreamRequest, timeouts: Timeouts) -> aiohttp.ClientResponse:
        """Send and wait for the response's headers, within the caller's deadline scope."""
        return await self.session.request(
            request.method,
            self._url(request.url),
            headers=request.headers,
            data=request.body,
            timeout=self._connect_timeout(timeouts.connect),
        )

    def _url(self, url: str) -> yarl.URL:
        # encoded=True: send the URL exactly as the adapter built (and maybe signed) it. Most URLs
        # repeat (one per endpoint); signed or per-request ones are dropped when the memo fills.
        parsed = self._urls.get(url)
        if parsed is None:
            if len(self._urls) >= _MEMO_LIMIT:
                self._urls.clear()
            parsed = self._urls[url] = yarl.URL(url, encoded=True)
        return parsed

    def _connect_timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        timeout = self._connect_timeouts.get(seconds)
        if timeout is None:
            if len(self._connect_timeouts) >= _MEMO_LIMIT:
                self._connect_timeouts.clear()
            timeout = aiohttp.ClientTimeout(sock_connect=seconds, connect=seconds)
            self._connect_timeouts[seconds] = timeout
        return timeout

    async def open_stream(
        self, request: UpstreamRequest, timeouts: Timeouts, provider: str
    ) -> UpstreamStream:
        """Send a request and return once the response headers are in (bounded by first_byte)."""
        try:
            async with self._deadlines.after(timeouts.first_byte):
                response = await self._request(request, timeouts)
        except TimeoutError as exc:
            raise UpstreamTimeoutError(f"{provider}: no response within {timeouts.first_byte:g}s") from exc
        except aiohttp.ClientConnectorError as exc:
            raise UpstreamError(
                f"{provider}: cannot connect ({exc.os_error})", code="upstream_connect_error"
            ) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError(
                f"{provider}: {type(exc).__name__}: {exc}", code="upstream_connect_error"
            ) from exc
        return UpstreamStream(response, timeouts, provider, self._deadlines)
