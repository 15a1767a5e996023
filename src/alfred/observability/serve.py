"""``MetricsServer``: ``GET /metrics`` on a port of its own, for processes without an HTTP app.

``alfred worker`` serves no API, yet its jobs, generation times and queue depths must reach
Prometheus (and an autoscaler reading queue depth). This answers plain HTTP/1.1 scrapes with
``GatewayMetrics.render`` (so multiprocess mode merges as on a gateway) and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib

from alfred.observability.metrics import GatewayMetrics

_MAX_HEAD = 16 * 1024  # request line and headers; a scrape sends a few hundred bytes


class MetricsServer:
    """Serves ``path`` (default ``/metrics``) on ``host:port``; ``port=0`` picks a free one (``port`` after start)."""

    def __init__(self, metrics: GatewayMetrics, host: str, port: int, path: str = "/metrics") -> None:
        self._metrics = metrics
        self._host = host
        self.port = port
        self._path = path
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            status, body, content_type = self._answer(head[:_MAX_HEAD].decode("latin-1"))
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode("latin-1")
                + body
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass  # a client that went away or sent no proper request gets nothing
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _answer(self, head: str) -> tuple[str, bytes, str]:
        request_line, *header_lines = head.split("\r\n")
        parts = request_line.split(" ")
        if len(parts) != 3 or parts[0] not in ("GET", "HEAD"):
            return "405 Method Not Allowed", b"GET only\n", "text/plain"
        if parts[1].split("?", 1)[0] != self._path:
            return "404 Not Found", b"not found\n", "text/plain"
        accept = next(
            (line.split(":", 1)[1].strip() for line in header_lines if line.lower().startswith("accept:")),
            None,
        )
        body, content_type = self._metrics.render(accept)
        return "200 OK", body if parts[0] == "GET" else b"", content_type
