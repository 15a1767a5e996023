"""RedisJobStore, the result cache's L2 and the shared spend meter against real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

from redis.asyncio import Redis

from alfred.images.jobs import LIVE, ImageJob, JobImage, JobState, new_job_id
from alfred.images.jobs_redis import RedisJobStore
from alfred.images.result_cache import CachedResult, ResultCache
from alfred.images.spend import KeyValueSpendMeter
from alfred.schema.images import GenerationSpec
from alfred.state.redis import RedisKeyValueStore
from tests.unit.images.fakes import VirtualClock


def make_job(tenant: str = "t1", privacy: bool = False) -> ImageJob:
    return ImageJob(
        id=new_job_id(),
        tenant=tenant,
        model="sdxl",
        spec=GenerationSpec(prompt="a sword", model="sdxl"),
        privacy=privacy,
    )


async def test_jobs_are_hashes_scoped_to_their_tenant_with_a_ttl(
    prefix: str, clients: Callable[[], Redis]
) -> None:
    client = clients()
    store = RedisJobStore(client, prefix, ttl_s=120)
    job = make_job()
    await store.create(job)
    assert await store.get_for("t1", job.id) == job
    assert await store.get_for("t2", job.id) is None
    assert await store.get_for("t1", "imgjob_missing") is None
    key = f"{prefix}job:{job.id}"
    assert set(await client.hkeys(key)) == {b"state", b"tenant", b"data"}
    assert 0 < await client.ttl(key) <= 120
    try:
        await store.create(job)
        raise AssertionError("a job id is created once")
    except ValueError:
        pass


async def test_racing_writers_one_wins(prefix: str, clients: Callable[[], Redis]) -> None:
    """Twenty 'workers' (own connections) try to finish the same running job; exactly one succeeds."""
    job = make_job()
    await RedisJobStore(clients(), prefix).create(job)
    running = job.copy()
    running.state = JobState.RUNNING
    assert await RedisJobStore(clients(), prefix).transition(running, frozenset({JobState.QUEUED}))

    async def finish(i: int) -> bool:
        mine = running.copy()
        mine.state = JobState.SUCCEEDED
        mine.backend = f"worker-{i}"
        return await RedisJobStore(clients(), prefix).transition(mine, frozenset({JobState.RUNNING}))

    results = await asyncio.gather(*(finish(i) for i in range(20)))
    assert results.count(True) == 1
    stored = await RedisJobStore(clients(), prefix).get(job.id)
    assert stored is not None and stored.state is JobState.SUCCEEDED
    assert stored.backend == f"worker-{results.index(True)}"
    cancelled = stored.copy()
    cancelled.state = JobState.CANCELLED
    assert not await RedisJobStore(clients(), prefix).transition(cancelled, LIVE)


async def test_privacy_jobs_are_stored_without_their_prompt_once_ended(
    prefix: str, clients: Callable[[], Redis]
) -> None:
    client = clients()
    store = RedisJobStore(client, prefix)
    job = make_job(privacy=True)
    await store.create(job)
    job.state = JobState.FAILED
    assert await store.transition(job, LIVE)
    raw = await client.hget(f"{prefix}job:{job.id}", "data")
    assert raw is not None and b"a sword" not in raw


async def test_result_cache_l2_is_shared_between_processes(prefix: str, clients: Callable[[], Redis]) -> None:
    clock = VirtualClock()
    writer = ResultCache(RedisKeyValueStore(clients(), prefix), ttl_s=60, clock=clock)
    reader = ResultCache(RedisKeyValueStore(clients(), prefix), ttl_s=60, clock=clock)
    entry = CachedResult(
        images=[JobImage(key="images/aa/bb/x.png", url="u", size=3)], cost_usd="0.0023", job_id="j"
    )
    await writer.put("key-1", entry)
    assert await reader.get("key-1") == entry
    assert reader.stats.hits_l2 == 1 and reader.stats.cost_saved == Decimal("0.0023")
    ttl = await clients().pttl(f"{prefix}kv:images:result:key-1")
    assert 0 < ttl <= 60_000


async def test_spend_meter_is_shared_and_slides_over_the_hour(
    prefix: str, clients: Callable[[], Redis]
) -> None:
    clock = VirtualClock(3600 * 1000)  # at the start of an hour
    a = KeyValueSpendMeter(RedisKeyValueStore(clients(), prefix), clock)
    b = KeyValueSpendMeter(RedisKeyValueStore(clients(), prefix), clock)
    await a.add(Decimal("0.0023"))
    await b.add(Decimal("0.0023"))
    assert await a.last_hour() == Decimal("0.0046")
    clock.advance(3600 + 900)  # a quarter into the next hour: three quarters of the last hour still count
    assert await b.last_hour() == Decimal("0.00345")
    clock.advance(3600)
    assert await b.last_hour() == 0
