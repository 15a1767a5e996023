"""RedisJobStore's recent-jobs listing: a list capped with LTRIM, shared by every process."""

from __future__ import annotations

from collections.abc import Callable

from redis.asyncio import Redis

from alfred.images.jobs import JobState
from alfred.images.jobs_redis import RedisJobStore
from tests.integration.images.test_redis_stores import make_job


async def test_recent_jobs_are_newest_first_capped_and_shared(
    prefix: str, clients: Callable[[], Redis]
) -> None:
    writer = RedisJobStore(clients(), prefix, recent_max=3)
    reader = RedisJobStore(clients(), prefix, recent_max=3)  # another process
    jobs = [make_job(tenant=f"t{i % 2}") for i in range(5)]
    for job in jobs:
        await writer.create(job)
    assert [j.id for j in await reader.recent(10)] == [jobs[4].id, jobs[3].id, jobs[2].id]
    assert [j.id for j in await reader.recent(1)] == [jobs[4].id]
    assert await reader.recent(0) == []
    assert await clients().llen(prefix + "recent") == 3  # trimmed on every create


async def test_recent_jobs_show_their_latest_state_and_skip_vanished_ones(
    prefix: str, clients: Callable[[], Redis]
) -> None:
    client = clients()
    store = RedisJobStore(client, prefix)
    gone, done, live = make_job(), make_job(), make_job()
    for job in (gone, done, live):
        await store.create(job)
    finished = done.copy()
    finished.state = JobState.SUCCEEDED
    assert await store.transition(finished, frozenset({JobState.QUEUED}))
    await client.delete(f"{prefix}job:{gone.id}")  # as its TTL would
    assert [(j.id, j.state) for j in await store.recent(50)] == [
        (live.id, JobState.QUEUED),
        (done.id, JobState.SUCCEEDED),
    ]
