"""The Python floor: a raw ASGI pass-through proxy on uvicorn (uvloop + httptools) with one aiohttp session.

Nothing but forwarding: no parsing, no validation, no logging. Whatever Alfred costs above this is
what its pipeline costs. ``python -m bench.bare_proxy --port P --upstream http://127.0.0.1:U``
"""

from __future__ import annotations

import argparse
from typing import Any

import aiohttp
import uvicorn

_HOP = {"host", "content-length", "connection", "transfer-encoding"}


def build(upstream: str) -> Any:
    session: list[aiohttp.ClientSession] = []  # made inside the server's loop, on the first request

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if not session:
            session.append(aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)))
        headers = {k.decode(): v.decode() for k, v in scope["headers"] if k.decode() not in _HOP}
        url = upstream + scope["path"]
        async with session[0].request(scope["method"], url, data=body, headers=headers) as resp:
            out = [(k.encode(), v.encode()) for k, v in resp.headers.items() if k.lower() not in _HOP]
            await send({"type": "http.response.start", "status": resp.status, "headers": out})
            async for chunk in resp.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    uvicorn.run(
        build(args.upstream.rstrip("/")),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


if __name__ == "__main__":
    main()
