"""An ASGI app built on its first request, for parts that few requests reach but that cost start-up
time to build: the admin API (FastAPI, its routers and models) is about a third of a second of CPU,
which would otherwise delay every gateway's readiness (bench/cold_start.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from alfred.api.http import Receive, Scope, Send

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class LazyApp:
    """Builds the app with ``build`` once, in a worker thread so the event loop keeps serving, then
    hands every request to it. A failed build is retried by the next request."""

    def __init__(self, build: Callable[[], ASGIApp]) -> None:
        self._build = build
        self._app: ASGIApp | None = None
        self._lock = asyncio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app or await self._built()
        await app(scope, receive, send)

    async def _built(self) -> ASGIApp:
        async with self._lock:  # the requests that arrive during the build wait for the one build
            app = self._app
            if app is None:
                app = self._app = await asyncio.to_thread(self._build)
            return app
