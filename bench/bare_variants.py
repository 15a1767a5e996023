"""The bare pass-through proxy on other stacks: {uvicorn, granian} server x {aiohttp, httpx, http1} client.

The same forwarding as ``bench/bare_proxy.py`` (no parsing, no validation, no logging), so only the
server and the client differ between variants. It runs in ``bench/.venv-stack`` (granian and the rest
are not Alfred's dependencies); ``bench/stack_compare.py`` creates that venv and starts these. The
``http1`` client is Alfred's own (``alfred.providers.http1``), so that variant runs in Alfred's venv.
``python -m bench.bare_variants --server granian --client httpx --port P --upstream http://127.0.0.1:U``
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

SERVERS = ("uvicorn", "granian")
CLIENTS = ("aiohttp", "httpx", "http1")
_HOP = {"host", "content-length", "connection", "transfer-encoding"}
_UPSTREAM_ENV = "BARE_VARIANT_UPSTREAM"
_CLIENT_ENV = "BARE_VARIANT_CLIENT"

# (method, url, body, headers) -> an open upstream response: status, headers, body chunks.
Upstream = Callable[[str, str, bytes, dict[str, str]], Any]


@asynccontextmanager
async def _aiohttp_call(
    holder: list[Any], method: str, url: str, body: bytes, headers: dict[str, str]
) -> AsyncIterator[tuple[int, list[tuple[str, str]], AsyncIterator[bytes]]]:
    import aiohttp

    if not holder:  # made inside the server's loop, on the first request
        holder.append(aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)))
    async with holder[0].request(method, url, data=body, headers=headers) as resp:
        yield resp.status, list(resp.headers.items()), resp.content.iter_any()


@asynccontextmanager
async def _httpx_call(
    holder: list[Any], method: str, url: str, body: bytes, headers: dict[str, str]
) -> AsyncIterator[tuple[int, list[tuple[str, str]], AsyncIterator[bytes]]]:
    import httpx

    if not holder:  # one pooled client, no connection cap (as the aiohttp variant)
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
        holder.append(httpx.AsyncClient(limits=limits, timeout=30.0))
    async with holder[0].stream(method, url, content=body, headers=headers) as resp:
        yield resp.status_code, list(resp.headers.items()), resp.aiter_raw()


@asynccontextmanager
async def _http1_call(
    holder: list[Any], method: str, url: str, body: bytes, headers: dict[str, str]
) -> AsyncIterator[tuple[int, list[tuple[str, str]], AsyncIterator[bytes]]]:
    from alfred.providers.http1 import Http1Client
    from alfred.providers.http1.pool import ConnectionPool

    if not holder:  # no practical connection cap (as the aiohttp variant)
        holder.append(Http1Client(ConnectionPool(limit=1_000_000, limit_per_host=1_000_000)))
    response = await holder[0].request(method, url, headers, body, connect_timeout=30.0)

    async def chunks() -> AsyncIterator[bytes]:
        while data := await response.read_some():
            yield data

    try:
        yield response.status, list(response.headers.items()), chunks()
    finally:
        response.release()


_CALLS = {"aiohttp": _aiohttp_call, "httpx": _httpx_call, "http1": _http1_call}


def build(upstream: str, client: str) -> Callable[[dict[str, Any], Any, Any], Awaitable[None]]:
    """The raw ASGI pass-through app forwarding to ``upstream`` with ``client`` (one of CLIENTS)."""
    if client not in CLIENTS:
        raise ValueError(f"unknown client {client!r}; known: {', '.join(CLIENTS)}")
    call = _CALLS[client]
    holder: list[Any] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":  # granian runs the lifespan protocol; answer it and idle
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {k.decode(): v.decode() for k, v in scope["headers"] if k.decode() not in _HOP}
        url = upstream + scope["path"]
        async with call(holder, scope["method"], url, body, headers) as (status, resp_headers, chunks):
            out = [(k.encode(), v.encode()) for k, v in resp_headers if k.lower() not in _HOP]
            await send({"type": "http.response.start", "status": status, "headers": out})
            async for chunk in chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    return app


def granian_app() -> Callable[[dict[str, Any], Any, Any], Awaitable[None]]:
    """Granian's factory: it imports the target by name in its worker, so the settings travel in env."""
    return build(os.environ[_UPSTREAM_ENV], os.environ[_CLIENT_ENV])


def serve(server: str, client: str, port: int, upstream: str) -> None:
    if server == "uvicorn":
        import uvicorn

        uvicorn.run(
            build(upstream, client),
            host="127.0.0.1",
            port=port,
            loop="uvloop",
            http="httptools",
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        return
    if server != "granian":
        raise ValueError(f"unknown server {server!r}; known: {', '.join(SERVERS)}")
    # granian lives in bench/.venv-stack only, never in Alfred's venv (where mypy runs).
    from granian import Granian  # type: ignore[import-not-found]
    from granian.constants import HTTPModes, Interfaces, Loops  # type: ignore[import-not-found]
    from granian.log import LogLevels  # type: ignore[import-not-found]

    os.environ[_UPSTREAM_ENV] = upstream
    os.environ[_CLIENT_ENV] = client
    Granian(
        "bench.bare_variants:granian_app",
        address="127.0.0.1",
        port=port,
        interface=Interfaces.ASGI,
        workers=1,
        loop=Loops.uvloop,
        http=HTTPModes.http1,  # uvicorn + httptools speaks HTTP/1.1 only: same protocol for both
        factory=True,
        log_access=False,
        log_level=LogLevels.warning,
    ).serve()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", choices=SERVERS, required=True)
    parser.add_argument("--client", choices=CLIENTS, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    serve(args.server, args.client, args.port, args.upstream.rstrip("/"))


if __name__ == "__main__":
    main()
