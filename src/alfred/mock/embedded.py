"""The mock upstream running inside the gateway's own process, for the demo config (``builtin-mock``).

It gets its own loopback socket (bound when the app is built, so URLs are known before startup) and
its own uvicorn server on the gateway's event loop: output URLs the mock hands out (Replicate,
Gradio files) are then plain URLs on that port.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn

from alfred.mock.app import build_mock_app


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the gateway's own server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class EmbeddedMock:
    """A mock upstream on 127.0.0.1:<ephemeral port>, started and stopped with the gateway."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._server: _QuietServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        config = uvicorn.Config(build_mock_app(), log_level="warning", access_log=False, lifespan="off")
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        # uvicorn binds our socket synchronously at the start of serve(): one loop turn suffices.
        await asyncio.sleep(0)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout=5)
        self._socket.close()
