"""The image mocks inside the real ``alfred mock-upstream`` server, driven through its faults API."""

from __future__ import annotations

import asyncio
import time

import httpx

from alfred.providers.openai_images import OpenAIImagesBackend, OpenAIImagesOptions
from alfred.providers.replicate import ReplicateBackend, ReplicateOptions
from alfred.providers.spaces import SpaceBackend, SpaceOptions
from alfred.providers.transport import HttpTransport
from alfred.schema.images import GenerationSpec
from tests.unit.images_backends.conftest import Progress

SPEC = GenerationSpec(prompt="a cursed dagger", model="black-forest-labs/flux-schnell", width=32, height=32)


async def test_every_image_protocol_is_served(mock_url: str, transport: HttpTransport) -> None:
    replicate = ReplicateBackend(
        "replicate", ReplicateOptions(api_token="r8_x", base_url=f"{mock_url}/v1"), transport
    )
    space = SpaceBackend("space-1", SpaceOptions(base_url=f"{mock_url}/spaces/one"), transport)
    openai = OpenAIImagesBackend(
        "openai", OpenAIImagesOptions(api_key="sk-x", base_url=f"{mock_url}/v1"), transport
    )
    results = await asyncio.gather(
        replicate.generate(SPEC, Progress()),
        space.generate(SPEC, Progress()),
        openai.generate(
            GenerationSpec(prompt="a cursed dagger", model="gpt-image-1", width=32, height=32), Progress()
        ),
    )
    assert all(len(images) == 1 and images[0].data.startswith(b"\x89PNG\r\n\x1a\n") for images in results)


async def test_fault_latency_makes_a_space_slow_enough_to_queue(
    mock_url: str, mock_control: httpx.Client, transport: HttpTransport
) -> None:
    mock_control.post("/mock/faults", json={"latency_ms": 300, "path": "/spaces/slow/"}).raise_for_status()
    space = SpaceBackend("slow", SpaceOptions(base_url=f"{mock_url}/spaces/slow"), transport)
    started = time.monotonic()
    results = await asyncio.gather(*(space.generate(SPEC, Progress()) for _ in range(3)))
    elapsed = time.monotonic() - started
    assert [len(images) for images in results] == [1, 1, 1]
    # One job at a time, each at least 0.3 s: the third waited for the other two.
    assert elapsed >= 0.9
    spaces = mock_control.get("/mock/gradio/jobs").json()["spaces"]
    assert spaces["slow"]["done"] == 3
