"""Image jobs against a running gateway: submit, follow events, wait with progress, cancel, errors."""

from __future__ import annotations

import uuid

import httpx
import pytest
from alfred_sdk import (
    Alfred,
    AsyncAlfred,
    BadRequestError,
    ImageJobFailedError,
    JobEvent,
    NotFoundError,
)

PNG = b"\x89PNG\r\n\x1a\n"


def fresh(prompt: str) -> str:
    """A prompt no earlier run has used, so the result cache cannot answer it."""
    return f"{prompt} {uuid.uuid4().hex}"


def test_generate_waits_with_progress_and_returns_fetchable_images(client: Alfred) -> None:
    seen: list[JobEvent] = []
    job = client.images.generate(
        fresh("a fire sword, sdk test"), on_progress=seen.append, size="256x256", seed=7
    )
    assert job.status == "succeeded"
    assert job.size == "256x256" and job.seed == 7
    assert job.data and job.data[0].url
    assert [e.type for e in seen][-1] == "succeeded"
    progress = [e.progress for e in seen if e.type == "progress" and e.progress is not None]
    assert progress == sorted(progress) and progress[-1] == pytest.approx(1.0)
    url = job.data[0].url
    image = httpx.get(url if url.startswith("http") else client.base_url + url, timeout=10)
    assert image.status_code == 200 and image.content.startswith(PNG)


def test_the_same_request_again_is_a_cache_hit(client: Alfred) -> None:
    prompt = fresh("a poison dagger")
    first = client.images.generate(prompt, seed=11)
    second = client.images.generate(prompt, seed=11)
    assert (first.cache, second.cache) == ("miss", "hit")
    assert second.route == "cache" and second.id_ != first.id_
    assert [d.url for d in second.data] == [d.url for d in first.data]


def test_submit_then_get_and_events_follow_one_job(client: Alfred) -> None:
    job = client.images.submit(fresh("an ice axe, sdk test"), steps=30)
    assert job.id_.startswith("imgjob_") and job.status in ("queued", "routed", "running", "succeeded")
    events = list(client.images.events(job.id_))
    assert {e.job_id for e in events} == {job.id_}
    assert events[-1].terminal and events[-1].type == "succeeded"
    again = client.images.get(job.id_)
    assert again.status == "succeeded" and again.steps == 30
    assert again.data == events[-1].job.data


def test_cancel_ends_a_live_job_and_generate_reports_it(client: Alfred) -> None:
    job = client.images.submit(fresh("a very slow bow, sdk test"), steps=200)  # ~2 s on the demo mock
    cancelled = client.images.cancel(job.id_)
    assert cancelled.status == "cancelled"
    final = client.images.wait(job.id_)
    assert final.status == "cancelled"


def test_unknown_job_is_a_typed_not_found_with_a_request_id(client: Alfred) -> None:
    with pytest.raises(NotFoundError) as caught:
        client.images.get("imgjob_does_not_exist")
    assert caught.value.status == 404 and caught.value.request_id


def test_invalid_request_names_the_field(client: Alfred) -> None:
    with pytest.raises(BadRequestError) as caught:
        client.images.submit("x", steps="many")
    assert caught.value.param == "steps"


def test_a_refused_preset_field_is_named(client: Alfred) -> None:
    with pytest.raises(BadRequestError) as caught:
        client.images.generate(preset="weapon", weapon_type="banana")
    assert caught.value.param == "weapon_type" and caught.value.code == "invalid_request"


def test_a_cancelled_job_makes_generate_raise_with_the_job(client: Alfred) -> None:
    job = client.images.submit(fresh("a cancelled lance, sdk test"), steps=200)
    client.images.cancel(job.id_)
    with pytest.raises(ImageJobFailedError) as caught:
        # generate() on an existing job is submit+wait; here: wait, then the same failure rule
        final = client.images.wait(job.id_)
        from alfred_sdk._jobs import job_failure

        raise job_failure(final)
    assert caught.value.job is not None and caught.value.job.id_ == job.id_
    assert caught.value.status == 409 and caught.value.code == "cancelled"


async def test_async_client_generates_and_cancels(base_url: str) -> None:
    async with AsyncAlfred(base_url=base_url) as alfred:
        steps: list[float] = []

        async def on_progress(event: JobEvent) -> None:
            if event.progress is not None:
                steps.append(event.progress)

        job = await alfred.images.generate(fresh("a thunder hammer, async sdk test"), on_progress=on_progress)
        assert job.status == "succeeded" and job.data
        assert steps and steps[-1] == pytest.approx(1.0)
        slow = await alfred.images.submit(fresh("a slow shield, async sdk test"), steps=200)
        assert (await alfred.images.cancel(slow.id_)).status == "cancelled"
        with pytest.raises(NotFoundError):
            await alfred.images.get("imgjob_missing")
