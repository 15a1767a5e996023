"""Fixtures for the image pipeline's unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web


@dataclass
class Receiver:
    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answers to give, in order; then 204


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    holder: dict[str, Receiver] = {}

    async def handle(request: web.Request) -> web.Response:
        rec = holder["r"]
        rec.received.append(({k.lower(): v for k, v in request.headers.items()}, await request.read()))
        status = rec.statuses.pop(0) if rec.statuses else 204
        return web.Response(status=status)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    holder["r"] = Receiver(f"http://127.0.0.1:{port}/hook")
    yield holder["r"]
    await runner.cleanup()
