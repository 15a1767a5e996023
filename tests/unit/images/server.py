"""A real HTTP server (uvicorn, in a thread) serving the Images API over a test pipeline."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn

from alfred.api.images import JOBS_PREFIX, ImageGenerationsEndpoint, ImageJobsEndpoint
from alfred.api.routes import PathRouter, wrap_outer
from alfred.images.settings import ImageSettings
from tests.servers import free_port
from tests.unit.images.fakes import FakeBackends
from tests.unit.images.harness import Harness, running


@dataclass
class Served:
    url: str
    harness: Harness
    loop: asyncio.AbstractEventLoop

    def call(self, coro: Any) -> Any:
        """Run a coroutine on the server's loop (its pipeline lives there) and return the result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)


@contextmanager
def serve_images(settings: ImageSettings, backends: FakeBackends | None = None) -> Iterator[Served]:
    port = free_port()
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        async with running(settings, backends=backends) as harness:
            service, blobs = harness.runtime.service, harness.blobs
            generations = ImageGenerationsEndpoint(service, blobs, 1024 * 1024)
            jobs = ImageJobsEndpoint(service)
            router = PathRouter(
                {("POST", "/v1/images/generations"): generations},
                [(method, JOBS_PREFIX, jobs) for method in ("GET", "DELETE")],
            )
            config = uvicorn.Config(
                wrap_outer(router, []), host="127.0.0.1", port=port, lifespan="off", log_level="warning"
            )
            server = uvicorn.Server(config)
            box.update(server=server, harness=harness, loop=asyncio.get_running_loop())
            serving = asyncio.ensure_future(server.serve())
            while not server.started and not serving.done():
                await asyncio.sleep(0.01)
            ready.set()
            await serving

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not ready.wait(0.05):
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("image test server did not start")
    try:
        yield Served(f"http://127.0.0.1:{port}", box["harness"], box["loop"])
    finally:
        box["server"].should_exit = True
        thread.join(timeout=20)
