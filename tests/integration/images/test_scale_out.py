"""Scale-out: a gateway process and a worker process sharing only Redis (jobs, streams, pub/sub, L2 cache)."""

from __future__ import annotations

import asyncio

from alfred.images.jobs import JobState, Route
from alfred.schema.images import ImageRequest
from alfred.state import RedisSettings, StateSettings, build_backend
from tests.integration.images.conftest import REDIS_URL
from tests.unit.images.fakes import FakeBackends, MemoryBlobStore
from tests.unit.images.harness import image_settings, running, until


async def test_gateway_and_worker_share_only_redis(prefix: str) -> None:
    settings = image_settings(
        queue={"backend": "redis", "redis_url": REDIS_URL, "prefix": prefix, "block_s": 0.2},
        jobs={"backend": "redis", "redis_url": REDIS_URL, "prefix": prefix},
    )

    def state():  # type: ignore[no-untyped-def]
        return build_backend(
            StateSettings(backend="redis", redis=RedisSettings(url=REDIS_URL, key_prefix=prefix))
        )

    gate = asyncio.Event()
    worker_backends = FakeBackends()
    for name in ("space-1", "space-2"):
        worker_backends.overrides[name] = {"gate": gate}
    gateway_state, worker_state = state(), state()
    bucket = MemoryBlobStore()  # the shared object store (S3/R2 in production)
    try:
        async with (
            running(settings, state=gateway_state, blobs=bucket, run_workers=False) as gateway,
            running(settings, backends=worker_backends, state=worker_state, blobs=bucket) as worker,
        ):
            assert gateway.runtime.workers == [] and len(worker.runtime.workers) == 2
            job = await gateway.service.submit("game", ImageRequest(prompt="a frost spear"))
            events: list[str] = []

            async def follow() -> None:
                async for event, _ in gateway.service.events("game", job.id):
                    events.append(event.type)

            follower = asyncio.ensure_future(follow())
            await until(lambda: "running" in events)
            gate.set()
            done = await gateway.service.wait("game", job.id, 10)
            await asyncio.wait_for(follower, 10)
            assert done.state is JobState.SUCCEEDED and done.route is Route.PRIMARY
            assert events[:3] == ["queued", "routed", "running"] and events[-1] == "succeeded"
            assert "progress" in events  # published by the worker process, heard by the gateway

            # the worker process stored the result; the gateway's L1 never saw it, so the hit is from Redis (L2)
            again = await gateway.service.submit("game", ImageRequest(prompt="A  frost spear"))
            assert again.route is Route.CACHE and [i.url for i in again.images] == [
                i.url for i in done.images
            ]
            assert gateway.service.cache.stats.hits_l2 == 1
            assert worker.charges.calls == [job.id]  # the worker settled the render
            assert gateway.charges.calls == [again.id]  # the gateway recorded the (free) hit
    finally:
        await gateway_state.close()
        await worker_state.close()
