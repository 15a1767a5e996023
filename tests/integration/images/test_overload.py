"""The primary queue at 10x the threshold (Redis Streams): new jobs go to the fallback while the
primary pool keeps draining, and no job is lost."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter

from alfred.images.jobs import JobState, Route
from alfred.schema.images import ImageRequest
from tests.integration.images.conftest import REDIS_URL
from tests.unit.images.fakes import FakeBackends
from tests.unit.images.harness import image_settings, running

THRESHOLD = 50  # the seed's default


async def test_ten_times_the_threshold_spills_to_fallback_and_loses_nothing(prefix: str) -> None:
    settings = image_settings(
        queue={"backend": "redis", "redis_url": REDIS_URL, "prefix": prefix, "block_s": 0.1},
        jobs={"backend": "redis", "redis_url": REDIS_URL, "prefix": prefix},
        cache={"enabled": False},
        router={"threshold": THRESHOLD},
    )
    gate = asyncio.Event()
    backends = FakeBackends()
    for name in ("space-1", "space-2"):
        backends.overrides[name] = {"gate": gate, "work_s": 0.002}
    backends.overrides["replicate"] = {"work_s": 0.005}
    async with running(settings, backends=backends) as h:
        service = h.service
        primary_queue = h.runtime.service.routes["sdxl"].primary

        # Fill the primary queue to 10x the threshold while its pool is stuck (the router is told to
        # send everything to primary for this part only, to build the backlog).
        service.router.policy = "always-primary"
        backlog = [
            (await service.submit("game", ImageRequest(prompt=f"backlog {i}"))).id
            for i in range(10 * THRESHOLD)
        ]
        service.router.policy = "queue-depth"
        assert (await primary_queue.depth()).total == 10 * THRESHOLD

        # New traffic arrives while the primary pool drains.
        gate.set()
        arrivals = []
        depths = []
        deadline = time.monotonic() + 120
        after_drain = 0
        while after_drain < 20:  # until the backlog is under the threshold, and then some
            assert time.monotonic() < deadline, "the primary backlog never drained"
            job = await service.submit("game", ImageRequest(prompt=f"new {len(arrivals)}"))
            arrivals.append(job)
            depths.append((await primary_queue.depth()).total)
            after_drain += depths[-1] < THRESHOLD
            await asyncio.sleep(0.01)  # arrivals spread over time, as players' requests are

        ids = backlog + [job.id for job in arrivals]
        while True:
            jobs = [await service.get("game", job_id) for job_id in ids]
            if all(job.terminal for job in jobs):
                break
            assert time.monotonic() < deadline, "jobs left unfinished"
            await asyncio.sleep(0.1)
        final_depths = [await q.depth() for q in h.runtime.queues]
        dead = [await q.dead_letters() for q in h.runtime.queues]

    states = Counter(job.state for job in jobs)
    assert states == Counter({JobState.SUCCEEDED: len(ids)}), "every job, backlog and new, succeeded"
    assert all(d.total == 0 for d in final_depths) and dead == [[], []]
    # each new job's route follows the depth the router saw, and the reason says so
    for job in arrivals:
        seen = int(re.search(r"primary queue depth (\d+)", job.route_reason).group(1))  # type: ignore[union-attr]
        assert job.route is (Route.FALLBACK if seen >= THRESHOLD else Route.PRIMARY), job.route_reason
    spilled = [job for job in arrivals if job.route is Route.FALLBACK]
    assert len(spilled) >= 20 and arrivals[0].route is Route.FALLBACK and arrivals[-1].route is Route.PRIMARY
    # the primary pool kept draining meanwhile: the backlog shrank below the threshold
    assert depths[0] <= 10 * THRESHOLD and min(depths) < THRESHOLD
    backlog_jobs = jobs[: len(backlog)]
    assert all(job.route is Route.PRIMARY and job.backend in ("space-1", "space-2") for job in backlog_jobs)
    assert all(job.backend in ("replicate", "openai-images") for job in jobs if job.route is Route.FALLBACK)
    print(
        f"\nbacklog {len(backlog)} drained on primary; {len(spilled)} of {len(arrivals)} new jobs went to fallback"
    )
