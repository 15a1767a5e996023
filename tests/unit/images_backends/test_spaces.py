"""Space backend: Gradio's HTTP API (call → SSE → files), checked on a recorded real stream and the mock."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest

from alfred.errors import ServiceUnavailableError, UpstreamError, UpstreamTimeoutError
from alfred.images.space_app import INPUT_NAMES
from alfred.mock.png import image_key, render_png
from alfred.mock.state import Fault
from alfred.providers.spaces import SpaceBackend, SpaceOptions, error_text, file_entries, space_inputs
from alfred.providers.sse import SSEParser
from alfred.providers.transport import HttpTransport
from alfred.schema.images import GenerationSpec
from tests.unit.images_backends.conftest import ImageMock, Progress

FIXTURES = Path(__file__).parent / "fixtures"
SPEC = GenerationSpec(
    prompt="a storm hammer, painterly icon",
    model="sd-turbo",
    width=64,
    height=32,
    steps=4,
    guidance=0.0,
    seed=9,
    n=2,
    negative_prompt="text",
)


def backend(mock: ImageMock, transport: HttpTransport, space: str = "a", **options: object) -> SpaceBackend:
    opts = SpaceOptions(base_url=f"{mock.url}/spaces/{space}", **options)  # type: ignore[arg-type]
    return SpaceBackend(f"space-{space}", opts, transport)


def test_inputs_follow_the_space_apps_parameter_order() -> None:
    values = dict(zip(INPUT_NAMES, space_inputs(SPEC), strict=True))
    assert values == {
        "prompt": SPEC.prompt,
        "negative_prompt": "text",
        "width": 64,
        "height": 32,
        "steps": 4,
        "guidance": 0.0,
        "seed": 9,
        "n": 2,
    }


def test_a_recorded_gradio_stream_parses() -> None:
    events = SSEParser().feed((FIXTURES / "gradio_generate_stream.txt").read_bytes())
    assert [event.event for event in events] == [
        "generating",
        "generating",
        "heartbeat",
        "generating",
        "complete",
    ]
    outputs = json.loads(events[-1].data)
    files = list(file_entries(outputs))
    assert [entry["orig_name"] for entry in files] == [
        "2e2c2c54ca5fa97103411b442d696ebe-11.png",
        "c46a7c3467259af0ce4a8a7cd0d455f0-12.png",
    ]
    assert all(
        entry["url"].startswith("http://127.0.0.1:7891/gradio_api/file=/tmp/gradio/") for entry in files
    )
    assert list(file_entries(json.loads(events[0].data))) == []


def test_error_events_as_gradio_sends_them() -> None:
    assert error_text(
        '{"error": "prompt is required", "duration": 10, "visible": true, "title": "Error"}'
    ) == ("prompt is required")
    assert "without details" in error_text('{"error": null}')
    assert "without details" in error_text("null")
    assert error_text('"boom"') == "boom"


async def test_a_call_streams_progress_and_returns_the_files(
    image_mock: ImageMock, transport: HttpTransport
) -> None:
    progress = Progress()
    images = await backend(image_mock, transport).generate(SPEC, progress)
    assert [image.data for image in images] == [
        render_png(image_key(SPEC.prompt, 9, index, 64, 32), 64, 32) for index in range(2)
    ]
    assert image_mock.state.requests["/spaces/a/gradio_api/call/generate"] == 1
    downloads = [path for path in image_mock.state.requests if path.startswith("/spaces/a/gradio_api/file=")]
    assert len(downloads) == 2
    messages = [message for _, message in progress.events]
    assert "step 4/4" in messages
    assert progress.fractions == sorted(progress.fractions) and progress.fractions[-1] == 1.0


async def test_the_token_goes_with_every_request(image_mock: ImageMock, transport: HttpTransport) -> None:
    seen: list[tuple[str, str | None]] = []
    original = image_mock.state.record

    def spy(path: str, body: object, headers: dict[str, str]) -> None:
        seen.append((path, headers.get("authorization")))
        original(path, body, headers)

    image_mock.state.record = spy  # type: ignore[method-assign]
    try:
        await backend(image_mock, transport, hf_token="hf_secret").generate(SPEC, Progress())
    finally:
        del image_mock.state.record
    assert len(seen) == 4  # the call, the result stream and two file downloads
    assert all(auth == "Bearer hf_secret" for _, auth in seen)


async def test_one_gpu_space_queues_jobs(image_mock: ImageMock, transport: HttpTransport) -> None:
    image_mock.control.post("/mock/gradio/timing", json={"seconds": 0.4})
    space = backend(image_mock, transport, space="busy")
    spec = GenerationSpec(prompt="queued axe", model="m", width=16, height=16, n=1)
    tasks = [asyncio.create_task(space.generate(spec, Progress())) for _ in range(3)]
    deadline = time.monotonic() + 5
    waiting_seen = 0
    while time.monotonic() < deadline and not all(task.done() for task in tasks):
        state = image_mock.control.get("/mock/gradio/jobs").json()["spaces"].get("busy", {})
        waiting_seen = max(waiting_seen, state.get("waiting", 0))
        assert state.get("running", 0) <= 1
        await asyncio.sleep(0.02)
    results = await asyncio.gather(*tasks)
    assert waiting_seen == 2
    assert all(len(images) == 1 for images in results)


async def test_error_events_fail_with_the_spaces_reason(
    image_mock: ImageMock, transport: HttpTransport
) -> None:
    for prompt, reason in (("sword mock:fail", "mock failure"), ("   ", "prompt is required")):
        spec = GenerationSpec(prompt=prompt, model="m", width=16, height=16)
        with pytest.raises(UpstreamError, match=reason) as caught:
            await backend(image_mock, transport).generate(spec, Progress())
        assert caught.value.code == "space_error"


async def test_refused_calls_map_to_retryable_errors(image_mock: ImageMock, transport: HttpTransport) -> None:
    image_mock.state.fault = Fault(status=503, path="/spaces/a/gradio_api/call")
    with pytest.raises(ServiceUnavailableError) as caught:
        await backend(image_mock, transport).generate(SPEC, Progress())
    assert caught.value.retryable
    image_mock.state.fault = None
    image_mock.control.post("/mock/gradio/timing", json={"queue_size": 0})
    with pytest.raises(ServiceUnavailableError, match="Queue is full"):
        await backend(image_mock, transport).generate(SPEC, Progress())


async def test_an_unknown_endpoint_is_an_upstream_error(
    image_mock: ImageMock, transport: HttpTransport
) -> None:
    with pytest.raises(UpstreamError) as caught:
        await backend(image_mock, transport, api_name="predict").generate(SPEC, Progress())
    assert caught.value.status == 502


async def test_heartbeats_keep_a_slow_job_alive(image_mock: ImageMock, transport: HttpTransport) -> None:
    image_mock.control.post("/mock/gradio/timing", json={"seconds": 0.6, "heartbeat_s": 0.05})
    spec = GenerationSpec(prompt="slow shield", model="m", width=16, height=16, steps=1)
    # A raw read shows the heartbeats the backend has to skip over.
    async with httpx.AsyncClient(base_url=f"{image_mock.url}/spaces/hb") as http:
        event_id = (await http.post("/gradio_api/call/generate", json={"data": space_inputs(spec)})).json()[
            "event_id"
        ]
        body = (await http.get(f"/gradio_api/call/generate/{event_id}", timeout=10)).text
    assert "event: heartbeat\ndata: null" in body and "event: complete" in body
    images = await backend(image_mock, transport, space="hb", idle_timeout_s=0.5).generate(spec, Progress())
    assert len(images) == 1


async def test_our_deadline_ends_a_stuck_space(image_mock: ImageMock, transport: HttpTransport) -> None:
    image_mock.state.fault = Fault(hang=True, path="/spaces/stuck/")
    started = time.monotonic()
    with pytest.raises(UpstreamTimeoutError):
        await backend(image_mock, transport, space="stuck", timeout_s=0.5).generate(SPEC, Progress())
    assert time.monotonic() - started < 5


async def test_cancel_stops_waiting(image_mock: ImageMock, transport: HttpTransport) -> None:
    image_mock.control.post("/mock/gradio/timing", json={"seconds": 10})
    space = backend(image_mock, transport, space="cancel")
    progress = Progress()
    task = asyncio.create_task(space.generate(SPEC, progress))
    deadline = time.monotonic() + 5
    while len(progress.events) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await space.cancel()
    with pytest.raises(UpstreamError) as caught:
        await task
    assert caught.value.code == "cancelled" and not caught.value.retryable
