"""A real HTTP server speaking the image mocks (Replicate, Gradio, OpenAI Images) on a free port.

It runs in a thread with its own event loop, so tests drive the backends over real sockets; the
``MockState`` is shared so a test can set a fault or read what the mock saw.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from alfred.mock import gradio as gradio_mock
from alfred.mock import openai_images as openai_images_mock
from alfred.mock import replicate as replicate_mock
from alfred.mock.state import MockState
from alfred.providers.transport import HttpTransport
from tests.servers import free_port, wait_http


@dataclass
class ImageMock:
    url: str
    state: MockState
    control: httpx.Client

    def reset(self) -> None:
        self.state.fault = None
        self.state.reset()
        self.control.delete("/mock/replicate/predictions")
        self.control.post("/mock/replicate/timing", json={"starting_s": 0.05, "processing_s": 0.3})
        self.control.post(
            "/mock/gradio/timing",
            json={"seconds": 0.2, "heartbeat_s": 15, "queue_size": 64, "concurrency": 1},
        )

    def predictions(self) -> list[dict[str, object]]:
        return list(self.control.get("/mock/replicate/predictions").json()["predictions"])


@pytest.fixture(scope="session")
def image_mock_server() -> Iterator[ImageMock]:
    state = MockState()
    routes = [*replicate_mock.routes(state), *gradio_mock.routes(state), *openai_images_mock.routes(state)]
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(Starlette(routes=routes), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="image-mock", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/mock/replicate/predictions")
    with httpx.Client(base_url=url, timeout=10) as control:
        yield ImageMock(url, state, control)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def image_mock(image_mock_server: ImageMock) -> Iterator[ImageMock]:
    image_mock_server.reset()
    yield image_mock_server
    image_mock_server.reset()


@pytest.fixture
async def transport() -> AsyncIterator[HttpTransport]:
    http = HttpTransport()
    await http.start()
    yield http
    await http.close()


class Progress:
    """Records what a backend reports, for assertions on order and range."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str]] = []

    async def __call__(self, fraction: float, message: str) -> None:
        self.events.append((fraction, message))

    @property
    def fractions(self) -> list[float]:
        return [fraction for fraction, _ in self.events]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight Stable Diffusion model saved to disk (skips without the diffusion extra)."""
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    pytest.importorskip("transformers")
    from tests.unit.images_backends.tiny_pipeline import save_tiny_pipeline

    return save_tiny_pipeline(tmp_path_factory.mktemp("diffusion") / "tiny-sd")
