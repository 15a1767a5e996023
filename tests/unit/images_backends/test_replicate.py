"""Replicate backend: wire format, then whole predictions against the mock over real HTTP."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal

import pytest

from alfred.errors import (
    ContentPolicyError,
    InvalidRequestError,
    RateLimitError,
    UpstreamError,
    UpstreamTimeoutError,
)
from alfred.mock.png import image_key, render_png
from alfred.mock.state import Fault
from alfred.providers import replicate_wire as wire
from alfred.providers.replicate import ReplicateBackend, ReplicateOptions
from alfred.providers.transport import HttpTransport
from alfred.schema.images import GenerationSpec
from tests.unit.images_backends.conftest import ImageMock, Progress

SPEC = GenerationSpec(
    prompt="a legendary fire sword, painterly icon",
    model="stability-ai/sdxl",
    width=64,
    height=48,
    steps=8,
    guidance=6.5,
    seed=42,
    n=2,
    negative_prompt="blurry",
)


def backend(mock: ImageMock, transport: HttpTransport, **options: object) -> ReplicateBackend:
    opts = ReplicateOptions(
        api_token="r8_test",
        base_url=f"{mock.url}/v1",
        poll_interval_s=0.05,
        poll_interval_max_s=0.1,
        backoff_base_s=0.01,
        **options,
    )  # type: ignore[arg-type]
    return ReplicateBackend("replicate", opts, transport)


# -- wire format --------------------------------------------------------------------------------
def test_model_ids_pick_the_endpoint() -> None:
    version = "a" * 64
    assert wire.target_for("stability-ai/sdxl") == wire.PredictionTarget(
        "/models/stability-ai/sdxl/predictions"
    )
    assert wire.target_for(f"stability-ai/sdxl:{version}") == wire.PredictionTarget("/predictions", version)
    assert wire.target_for(version) == wire.PredictionTarget("/predictions", version)
    assert wire.target_for("deployment:acme/forge") == wire.PredictionTarget(
        "/deployments/acme/forge/predictions"
    )
    for bad in ("sdxl", "a/b/c", "owner/name:", "/name"):
        with pytest.raises(InvalidRequestError):
            wire.target_for(bad)


def test_body_maps_the_spec_and_extra_input_overrides_or_drops() -> None:
    body = wire.prediction_body(
        SPEC,
        wire.PredictionTarget("/predictions", "v1"),
        {"aspect_ratio": "1:1", "width": None, "height": None, "output_format": "png"},
        webhook="https://gw.example/hooks/replicate",
    )
    assert body == {
        "version": "v1",
        "input": {
            "prompt": SPEC.prompt,
            "negative_prompt": "blurry",
            "num_outputs": 2,
            "num_inference_steps": 8,
            "guidance_scale": 6.5,
            "seed": 42,
            "aspect_ratio": "1:1",
            "output_format": "png",
        },
        "webhook": "https://gw.example/hooks/replicate",
        "webhook_events_filter": ["completed"],
    }


def test_headers_carry_prefer_wait_and_cancel_after() -> None:
    headers = wire.prediction_headers("r8_x", wait_s=90, cancel_after_s=300)
    assert headers["authorization"] == "Bearer r8_x"
    assert headers["prefer"] == "wait=60"  # Replicate's ceiling
    assert headers["cancel-after"] == "300s"
    assert "prefer" not in wire.prediction_headers("r8_x", wait_s=0, cancel_after_s=None)


def test_output_urls_of_every_shape() -> None:
    assert wire.output_urls("https://replicate.delivery/a.png") == ["https://replicate.delivery/a.png"]
    assert wire.output_urls(["https://x/1.png", "https://x/2.png"]) == ["https://x/1.png", "https://x/2.png"]
    assert wire.output_urls({"image": "data:image/png;base64,AAAA", "note": "text"}) == [
        "data:image/png;base64,AAAA"
    ]
    assert wire.output_urls(None) == []


def test_progress_reads_the_tqdm_bar_in_logs() -> None:
    logs = (
        "Using seed: 1\n  0%|          | 0/8 [00:00<?, ?it/s]\n 50%|█████     | 4/8 [00:01<00:01,  3.9it/s]\n"
    )
    fraction, message = wire.progress_of({"status": "processing", "logs": logs})
    assert message == "step 4/8" and fraction == pytest.approx(0.1 + 0.85 * 0.5)
    assert wire.progress_of({"status": "starting"})[0] == 0.05


def test_errors_keep_replicates_detail() -> None:
    throttled = json.dumps(
        {"title": "Request was throttled", "detail": "Expected available in 2 seconds.", "status": 429}
    )
    error = wire.map_error(429, {"retry-after": "2"}, throttled.encode())
    assert isinstance(error, RateLimitError) and "Expected available in 2 seconds." in error.message
    assert error.headers == {"retry-after": "2"}
    invalid = wire.map_error(
        422, {}, b'{"title":"Input validation failed","detail":"- input: prompt is required","status":422}'
    )
    assert invalid.status == 422 and "prompt is required" in invalid.message and not invalid.retryable
    billing = wire.map_error(402, {}, b'{"detail":"You have insufficient credit","status":402}')
    assert billing.retryable and billing.status == 502
    auth = wire.map_error(401, {}, b'{"detail":"Unauthenticated","status":401}')
    assert auth.code == "upstream_authentication_error"


# -- against the mock ---------------------------------------------------------------------------
async def test_a_prediction_returns_the_downloaded_png_bytes(
    image_mock: ImageMock, transport: HttpTransport
) -> None:
    progress = Progress()
    images = await backend(image_mock, transport).generate(SPEC, progress)
    assert len(images) == 2
    for index, image in enumerate(images):
        assert image.media_type == "image/png"
        assert image.data == render_png(image_key(SPEC.prompt, 42, index, 64, 48), 64, 48)
    assert image_mock.state.requests["/v1/models/stability-ai/sdxl/predictions"] == 1
    assert image_mock.state.last_path is not None and image_mock.state.last_path.startswith(
        "/replicate-delivery/"
    )
    assert progress.fractions[0] == 0.0 and progress.fractions[-1] == 1.0
    assert progress.fractions == sorted(progress.fractions)
    assert backend(image_mock, transport).price_per_image == Decimal("0.0023")


async def test_sync_mode_sends_prefer_wait_and_cancel_after(
    image_mock: ImageMock, transport: HttpTransport
) -> None:
    seen: list[dict[str, str]] = []
    original = image_mock.state.record

    def spy(path: str, body: object, headers: dict[str, str]) -> None:
        if path.endswith("/predictions"):
            seen.append(headers)
        original(path, body, headers)

    image_mock.state.record = spy  # type: ignore[method-assign]
    try:
        await backend(image_mock, transport, wait_s=30, cancel_after_s=120).generate(SPEC, Progress())
    finally:
        del image_mock.state.record
    assert seen[0]["prefer"] == "wait=30"
    assert seen[0]["cancel-after"] == "120s"
    # Held until done: no polling needed (one poll is tolerated when a loaded machine makes the mock
    # finish a hair after the hold ends; a client that ignored Prefer: wait polls several times).
    assert image_mock.predictions()[0]["polls"] <= 1


async def test_async_mode_polls_and_reports_steps(image_mock: ImageMock, transport: HttpTransport) -> None:
    image_mock.control.post("/mock/replicate/timing", json={"starting_s": 0.1, "processing_s": 0.6})
    progress = Progress()
    await backend(image_mock, transport, wait_s=0).generate(SPEC, progress)
    prediction = image_mock.predictions()[0]
    assert prediction["status"] == "succeeded" and int(str(prediction["polls"])) >= 3
    messages = [message for _, message in progress.events]
    assert any(message.startswith("starting") for message in messages)
    assert any(message.startswith("step ") for message in messages)


async def test_429s_are_retried_after_backoff(image_mock: ImageMock, transport: HttpTransport) -> None:
    image_mock.state.fault = Fault(status=429, count=2, retry_after=0, path="/v1/models/")
    images = await backend(image_mock, transport).generate(SPEC, Progress())
    assert len(images) == 2
    assert image_mock.state.requests["/v1/models/stability-ai/sdxl/predictions"] == 3
    assert len(image_mock.predictions()) == 1


async def test_persistent_429_surfaces_as_rate_limit(image_mock: ImageMock, transport: HttpTransport) -> None:
    image_mock.state.fault = Fault(status=429, retry_after=0, path="/v1/models/")
    with pytest.raises(RateLimitError):
        await backend(image_mock, transport, rate_limit_retries=2).generate(SPEC, Progress())
    assert image_mock.state.requests["/v1/models/stability-ai/sdxl/predictions"] == 3
    assert image_mock.predictions() == []


@pytest.mark.parametrize(
    ("marker", "error"), [("mock:fail", UpstreamError), ("mock:nsfw", ContentPolicyError)]
)
async def test_failed_predictions_keep_their_reason(
    image_mock: ImageMock, transport: HttpTransport, marker: str, error: type[Exception]
) -> None:
    spec = GenerationSpec(prompt=f"sword {marker}", model="stability-ai/sdxl", width=64, height=64)
    with pytest.raises(error) as caught:
        await backend(image_mock, transport).generate(spec, Progress())
    assert "failed:" in str(caught.value)
    assert ("NSFW" if marker == "mock:nsfw" else "CUDA out of memory") in str(caught.value)


async def test_our_deadline_cancels_the_prediction(image_mock: ImageMock, transport: HttpTransport) -> None:
    image_mock.control.post("/mock/replicate/timing", json={"processing_s": 30})
    started = time.monotonic()
    with pytest.raises(UpstreamTimeoutError):
        await backend(image_mock, transport, wait_s=0, timeout_s=0.6).generate(SPEC, Progress())
    assert time.monotonic() - started < 5
    assert [p["status"] for p in image_mock.predictions()] == ["canceled"]


async def test_cancel_after_bounds_the_prediction_upstream(
    image_mock: ImageMock, transport: HttpTransport
) -> None:
    image_mock.control.post("/mock/replicate/timing", json={"processing_s": 30})
    with pytest.raises(UpstreamTimeoutError, match="Cancel-After"):
        await backend(image_mock, transport, wait_s=0, cancel_after_s=1).generate(SPEC, Progress())
    assert [p["status"] for p in image_mock.predictions()] == ["canceled"]


async def test_cancel_stops_the_prediction(image_mock: ImageMock, transport: HttpTransport) -> None:
    image_mock.control.post("/mock/replicate/timing", json={"processing_s": 30})
    replicate = backend(image_mock, transport, wait_s=0)
    task = asyncio.create_task(replicate.generate(SPEC, Progress()))
    deadline = time.monotonic() + 5
    while not image_mock.predictions() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await replicate.cancel()
    with pytest.raises(UpstreamError) as caught:
        await task
    assert caught.value.code == "cancelled" and not caught.value.retryable
    assert [p["status"] for p in image_mock.predictions()] == ["canceled"]


async def test_an_abandoned_task_still_cancels_upstream(
    image_mock: ImageMock, transport: HttpTransport
) -> None:
    image_mock.control.post("/mock/replicate/timing", json={"processing_s": 30})
    task = asyncio.create_task(backend(image_mock, transport, wait_s=0).generate(SPEC, Progress()))
    deadline = time.monotonic() + 5
    while not image_mock.predictions() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    deadline = time.monotonic() + 5
    while image_mock.predictions()[0]["status"] != "canceled" and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert image_mock.predictions()[0]["status"] == "canceled"


async def test_a_bad_token_is_the_gateways_problem(image_mock: ImageMock, transport: HttpTransport) -> None:
    opts = ReplicateOptions(api_token="", base_url=f"{image_mock.url}/v1")
    with pytest.raises(UpstreamError) as caught:
        await ReplicateBackend("replicate", opts, transport).generate(SPEC, Progress())
    assert caught.value.code == "upstream_authentication_error" and caught.value.status == 502


async def test_versioned_and_deployment_models(image_mock: ImageMock, transport: HttpTransport) -> None:
    version = "b" * 64
    for model in (f"stability-ai/sdxl:{version}", "deployment:acme/forge"):
        spec = GenerationSpec(prompt="axe", model=model, width=32, height=32)
        assert len(await backend(image_mock, transport).generate(spec, Progress())) == 1
    assert image_mock.state.requests["/v1/predictions"] == 1
    assert image_mock.state.requests["/v1/deployments/acme/forge/predictions"] == 1


async def test_a_mock_hang_is_ended_by_our_deadline(image_mock: ImageMock, transport: HttpTransport) -> None:
    image_mock.state.fault = Fault(hang=True, path="/v1/models/")
    with pytest.raises(UpstreamTimeoutError):
        await backend(image_mock, transport, wait_s=1, timeout_s=1.5).generate(SPEC, Progress())
    assert [p["status"] for p in image_mock.predictions()] == ["canceled"]
