"""The memory JobStore's bounded listing of recent jobs (the Redis one: integration/images)."""

from __future__ import annotations

from alfred.images.jobs import RECENT_JOBS, JobState, MemoryJobStore
from tests.unit.images.fakes import VirtualClock
from tests.unit.images.test_stores import make_job


async def test_recent_jobs_are_newest_first_and_bounded() -> None:
    store = MemoryJobStore(VirtualClock(), recent_max=3)
    jobs = [make_job(tenant=f"t{i % 2}") for i in range(5)]
    for job in jobs:
        await store.create(job)
    assert [j.id for j in await store.recent(10)] == [jobs[4].id, jobs[3].id, jobs[2].id]
    assert [j.id for j in await store.recent(2)] == [jobs[4].id, jobs[3].id]
    assert await store.recent(0) == []


async def test_recent_jobs_show_their_latest_state_and_skip_expired_ones() -> None:
    clock = VirtualClock()
    store = MemoryJobStore(clock, ttl_s=60)
    old, new = make_job(), make_job()
    await store.create(old)
    await store.create(new)
    done = old.copy()
    done.state = JobState.SUCCEEDED
    assert await store.transition(done, frozenset({JobState.QUEUED}))
    assert [(j.id, j.state) for j in await store.recent(5)] == [
        (new.id, JobState.QUEUED),
        (old.id, JobState.SUCCEEDED),
    ]
    clock.advance(61)  # the finished job expires; the live one does not
    assert [j.id for j in await store.recent(5)] == [new.id]


def test_the_default_bound_is_fifty() -> None:
    assert RECENT_JOBS == 50
