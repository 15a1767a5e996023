"""The memory JobStore and the ResultCache (the Redis versions run the same checks in integration/)."""

from __future__ import annotations

from decimal import Decimal

from alfred.images.jobs import LIVE, ImageJob, JobImage, JobState, MemoryJobStore, new_job_id
from alfred.images.result_cache import CachedResult, ResultCache
from alfred.schema.images import GenerationSpec
from alfred.state.memory import MemoryKeyValueStore
from tests.unit.images.fakes import VirtualClock


def make_job(tenant: str = "t1", privacy: bool = False) -> ImageJob:
    return ImageJob(
        id=new_job_id(),
        tenant=tenant,
        model="sdxl",
        spec=GenerationSpec(prompt="a sword", model="sdxl"),
        privacy=privacy,
    )


async def test_jobs_are_scoped_to_their_tenant() -> None:
    store = MemoryJobStore(VirtualClock())
    job = make_job("t1")
    await store.create(job)
    assert (await store.get_for("t1", job.id)) == job
    assert await store.get_for("t2", job.id) is None
    assert (await store.get(job.id)) == job


async def test_transition_is_a_compare_and_set_on_the_state() -> None:
    store = MemoryJobStore(VirtualClock())
    job = make_job()
    await store.create(job)
    first, second = job.copy(), job.copy()
    first.state = second.state = JobState.RUNNING
    assert await store.transition(first, frozenset({JobState.QUEUED}))
    assert not await store.transition(second, frozenset({JobState.QUEUED}))  # the other racer loses
    done = first.copy()
    done.state = JobState.SUCCEEDED
    assert await store.transition(done, frozenset({JobState.RUNNING}))
    cancelled = first.copy()
    cancelled.state = JobState.CANCELLED
    assert not await store.transition(cancelled, LIVE)  # an ended job stays ended
    assert (await store.get(job.id)).state is JobState.SUCCEEDED  # type: ignore[union-attr]


async def test_stored_jobs_are_copies() -> None:
    store = MemoryJobStore(VirtualClock())
    job = make_job()
    await store.create(job)
    job.attempts = 99
    assert (await store.get(job.id)).attempts == 0  # type: ignore[union-attr]


async def test_finished_jobs_expire_and_privacy_jobs_lose_their_prompt() -> None:
    clock = VirtualClock()
    store = MemoryJobStore(clock, ttl_s=100)
    job = make_job(privacy=True)
    job.preset_fields = {"weapon_type": "sword"}
    await store.create(job)
    assert (await store.get(job.id)).spec.prompt == "a sword"  # type: ignore[union-attr]  # needed while live
    job.state = JobState.FAILED
    assert await store.transition(job, LIVE)
    stored = await store.get(job.id)
    assert stored is not None and stored.spec.prompt == "" and stored.preset_fields == {}
    clock.advance(101)
    assert await store.get(job.id) is None


def result(job_id: str, cost: str = "0.0023") -> CachedResult:
    return CachedResult(images=[JobImage(key=f"images/{job_id}.png", url="u")], cost_usd=cost, job_id=job_id)


async def test_result_cache_l1_is_an_lru_with_a_ttl() -> None:
    clock = VirtualClock()
    cache = ResultCache(ttl_s=60, l1_size=2, clock=clock)
    await cache.put("a", result("a"))
    await cache.put("b", result("b"))
    assert await cache.get("a") is not None  # a is now the most recent
    await cache.put("c", result("c"))  # evicts b
    assert await cache.get("b") is None
    assert await cache.get("c") is not None
    clock.advance(61)
    assert await cache.get("a") is None
    stats = cache.stats
    assert (stats.hits_l1, stats.misses, stats.stores) == (2, 2, 3)
    assert stats.hit_rate == 0.5 and stats.cost_saved == Decimal("0.0046")


async def test_result_cache_l2_serves_another_process_and_refills_l1() -> None:
    clock = VirtualClock()
    shared = MemoryKeyValueStore(clock)
    writer = ResultCache(shared, l1_size=10, clock=clock)
    reader = ResultCache(shared, l1_size=10, clock=clock)
    await writer.put("k", result("job-1"))
    hit = await reader.get("k")
    assert hit is not None and hit.job_id == "job-1"
    assert await reader.get("k") is not None
    assert (reader.stats.hits_l2, reader.stats.hits_l1) == (1, 1)
    await reader.drop("k")
    assert await writer.get("k") is not None  # the writer's L1 still has it
    assert await ResultCache(shared, clock=clock).get("k") is None
