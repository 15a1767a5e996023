"""The Images API over real HTTP, with the official openai SDK as the client."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.unit.images.fakes import PNG_SIGNATURE, FakeBackends, png_size
from tests.unit.images.harness import image_settings
from tests.unit.images.server import Served, serve_images

WEAPON = {
    "preset": "weapon",
    "weapon_type": "sword",
    "element": "fire",
    "rarity": "legendary",
    "style": "painterly icon",
}


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with serve_images(image_settings(), FakeBackends()) as served:
        yield served


def sdk(served: Served, key: str = "sk-tenant-a") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{served.url}/v1", api_key=key, max_retries=0)


def test_sdk_images_generate_returns_urls(served: Served) -> None:
    raw = sdk(served).images.with_raw_response.generate(
        prompt="a glowing rune sword", model="sdxl", n=2, size="512x512"
    )
    result = raw.parse()
    assert len(result.data or []) == 2
    assert all((image.url or "").startswith("https://cdn.test/images/") for image in result.data or [])
    assert result.created > 0 and result.size == "512x512"
    assert raw.headers["x-alfred-route"] == "primary" and raw.headers["x-alfred-cache"] == "miss"
    assert raw.headers["x-alfred-job-id"].startswith("imgjob_") and raw.headers["x-request-id"]


def test_sdk_b64_json_carries_the_png_bytes(served: Served) -> None:
    result = sdk(served).images.generate(prompt="an ice axe", response_format="b64_json")
    data = base64.b64decode((result.data or [])[0].b64_json or "")
    assert data.startswith(PNG_SIGNATURE) and png_size(data) == (8, 8)


def test_sdk_preset_fields_ride_in_extra_body_and_repeat_as_a_cache_hit(served: Served) -> None:
    client = sdk(served)
    extra = {k: v for k, v in WEAPON.items()}
    first = client.images.with_raw_response.generate(prompt="", extra_body=extra)
    # the same weapon, spelled differently, with OpenAI's own "style" name reused by the preset
    again = client.images.with_raw_response.generate(
        prompt="",
        extra_body={
            "preset": "Weapon",
            "weapon_type": "SWORD",
            "element": "Fire",
            "rarity": "legendary ",
            "style": "Painterly Icon",
        },
    )
    assert again.headers["x-alfred-cache"] == "hit" and again.headers["x-alfred-cost"] == "0"
    assert [d.url for d in again.parse().data or []] == [d.url for d in first.parse().data or []]
    revised = (first.parse().data or [])[0].revised_prompt or ""
    assert "longsword" in revised and "glowing runes" in revised


def test_validation_errors_are_openai_errors_naming_the_field(served: Served) -> None:
    client = sdk(served)
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(prompt="", extra_body={"preset": "weapon", "weapon_type": "banana"})
    body = caught.value.body
    assert isinstance(body, dict) and body["param"] == "weapon_type" and "banana" in body["message"]
    with pytest.raises(openai.BadRequestError) as size:
        client.images.generate(prompt="x", size="13x13")  # type: ignore[arg-type]
    assert isinstance(size.value.body, dict) and size.value.body["param"] == "size"
    with pytest.raises(openai.NotFoundError):
        client.images.generate(prompt="x", model="dall-e-9")


def test_async_submit_returns_202_and_the_job_can_be_polled_and_followed(served: Served) -> None:
    headers = {"authorization": "Bearer sk-tenant-a"}
    with httpx.Client(base_url=served.url, headers=headers, timeout=10) as client:
        response = client.post("/v1/images/generations", json={"prompt": "a bow of light", "wait": 0})
        assert response.status_code == 202
        job = response.json()
        assert job["object"] == "image.job" and job["status"] in ("routed", "running", "succeeded")
        assert response.headers["location"] == f"/v1/images/jobs/{job['id']}"
        deadline = time.monotonic() + 10
        while job["status"] != "succeeded":
            assert time.monotonic() < deadline
            job = client.get(response.headers["location"]).json()
        assert job["route"] == "primary" and job["cost"] == "0.001" and job["data"][0]["url"]
        assert job["timings"]["total_ms"] >= 0 and job["prompt"] == "a bow of light"
        with client.stream("GET", f"/v1/images/jobs/{job['id']}/events") as events:
            assert events.headers["content-type"].startswith("text/event-stream")
            frames = [line for line in events.iter_lines() if line.startswith("event: ")]
        assert frames == ["event: queued", "event: routed", "event: running", "event: succeeded"]
        other = httpx.get(
            f"{served.url}/v1/images/jobs/{job['id']}", headers={"authorization": "Bearer sk-tenant-b"}
        )
        assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"


def _follow(served: Served, prompt: str, on_running: str) -> list[dict[str, object]]:
    """Submit asynchronously and read the job's SSE stream; at "running", open the gate or cancel."""
    gate = asyncio.Event()
    pools = served.harness.backends.all("space-1") + served.harness.backends.all("space-2")
    for backend in pools:
        backend.gate = gate
    seen: list[dict[str, object]] = []
    try:
        headers = {"authorization": "Bearer sk-tenant-a"}
        with httpx.Client(base_url=served.url, headers=headers, timeout=10) as client:
            job = client.post("/v1/images/generations", json={"prompt": prompt, "wait": 0}).json()
            with client.stream("GET", f"/v1/images/jobs/{job['id']}/events") as events:
                kind = ""
                for line in events.iter_lines():
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: "):
                        seen.append({"event": kind, **json.loads(line[6:])})
                        if kind == "running" and on_running == "open":
                            served.loop.call_soon_threadsafe(gate.set)
                        elif kind == "running":
                            deleted = client.delete(f"/v1/images/jobs/{job['id']}")
                            assert deleted.status_code == 200 and deleted.json()["status"] == "cancelled"
    finally:
        served.loop.call_soon_threadsafe(gate.set)
        for backend in pools:
            backend.gate = None
    return seen


def test_live_events_stream_running_with_progress_to_success(served: Served) -> None:
    seen = _follow(served, "a storm hammer", "open")
    kinds = [s["event"] for s in seen]
    assert kinds[:3] == ["queued", "routed", "running"] and kinds[-1] == "succeeded"
    progress = [s["progress"] for s in seen if s["event"] == "progress"]
    assert progress and progress[-1] == 1.0 and progress == sorted(progress)  # type: ignore[type-var]
    assert seen[-1]["job"]["data"][0]["url"]  # type: ignore[index]


def test_delete_cancels_a_running_job_and_its_stream_ends_cancelled(served: Served) -> None:
    seen = _follow(served, "a cursed scythe", "cancel")
    kinds = [s["event"] for s in seen]
    assert kinds[:3] == ["queued", "routed", "running"] and kinds[-1] == "cancelled"
    assert set(kinds[3:-1]) <= {"progress"}  # the backend may report progress before the cancel lands
    assert seen[-1]["job"]["error"]["code"] == "cancelled"  # type: ignore[index]


def test_unknown_job_and_bad_bodies(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=10) as client:
        assert client.get("/v1/images/jobs/imgjob_nope").status_code == 404
        assert client.get("/v1/images/jobs/x/other").status_code == 404
        bad = client.post("/v1/images/generations", content=b"[1]")
        assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
        streaming = client.post("/v1/images/generations", json={"prompt": "x", "stream": True})
        assert streaming.status_code == 400 and streaming.json()["error"]["param"] == "stream"
        typed = client.post("/v1/images/generations", json={"prompt": "x", "n": "two"})
        assert typed.json()["error"]["param"] == "n"
