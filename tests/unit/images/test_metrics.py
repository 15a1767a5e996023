"""The image pipeline's metrics: jobs by route and outcome with generation time, and queue depth,
recorded into a real ``GatewayMetrics`` as jobs run through the whole in-process pipeline."""

from __future__ import annotations

import asyncio

from alfred.errors import UpstreamError
from alfred.images.jobs import JobState, Route
from alfred.images.metrics import DepthPoller
from alfred.images.queue import QueueMessage
from alfred.images.queue_memory import MemoryJobQueue
from alfred.observability.metrics import GatewayMetrics
from alfred.schema.images import ImageRequest
from tests.unit.images.fakes import FakeBackends
from tests.unit.images.harness import image_settings, running
from tests.unit.observability.test_metrics import samples, value


async def test_jobs_are_counted_by_route_and_outcome_with_their_generation_time() -> None:
    metrics = GatewayMetrics()
    async with running(image_settings(), backends=FakeBackends(work_s=0.05), metrics=metrics) as h:
        job = await h.service.submit("t1", ImageRequest(prompt="a fire sword"))
        done = await h.service.wait("t1", job.id, 10)
        again = await h.service.submit("t1", ImageRequest(prompt="a fire sword"))
    assert done.state is JobState.SUCCEEDED and again.route is Route.CACHE
    assert value(metrics, "alfred_image_jobs_total", route="primary", outcome="ok") == 1
    assert value(metrics, "alfred_image_jobs_total", route="cache", outcome="ok") == 1
    assert value(metrics, "alfred_image_generation_seconds_count", route="primary") == 1
    assert value(metrics, "alfred_image_generation_seconds_sum", route="primary") >= 0.05
    # read by the router (0 before the first job) or by the poller's first round (0 or the job)
    assert value(metrics, "alfred_image_queue_depth", pool="sdxl.primary") in (0, 1)
    assert value(metrics, "alfred_image_queue_depth", pool="sdxl.fallback") == 0


async def test_the_router_sets_the_depth_it_decided_on() -> None:
    metrics = GatewayMetrics()
    gate = asyncio.Event()
    async with running(image_settings(), backends=FakeBackends(gate=gate), metrics=metrics, start=False) as h:
        for n in range(3):  # no workers, no poller: only the router reads the queue
            await h.service.submit("t1", ImageRequest(prompt=f"job {n}"))
        assert value(metrics, "alfred_image_queue_depth", pool="sdxl.primary") == 2  # read before the third
        gate.set()


async def test_failed_and_cancelled_jobs_are_counted_without_a_generation_time() -> None:
    metrics = GatewayMetrics()
    backends = FakeBackends(fail=UpstreamError("the space is down", retryable=False))
    async with running(image_settings(), backends=backends, metrics=metrics) as h:
        failed = await h.service.wait("t1", (await h.service.submit("t1", ImageRequest(prompt="x"))).id, 10)
        gate = asyncio.Event()
        backends.defaults = {"gate": gate}
        for made in backends.made.values():
            for backend in made:
                backend.fail, backend.gate = None, gate
        running_job = await h.service.submit("t1", ImageRequest(prompt="y"))
        cancelled = await h.service.cancel("t1", running_job.id)
        gate.set()
    assert failed.state is JobState.FAILED and cancelled.state is JobState.CANCELLED
    assert value(metrics, "alfred_image_jobs_total", route="primary", outcome="error") == 1
    assert value(metrics, "alfred_image_jobs_total", route="primary", outcome="cancelled") == 1
    assert ("alfred_image_generation_seconds_count", (("route", "primary"),)) not in samples(metrics)


async def test_the_poller_sets_every_queue_depth_until_stopped() -> None:
    metrics = GatewayMetrics()
    primary, fallback = MemoryJobQueue("sdxl.primary"), MemoryJobQueue("sdxl.fallback")
    for n in range(3):
        await primary.enqueue(QueueMessage(job_id=f"j{n}", tenant="t"))
    await primary.receive("worker", 1, 0)  # one running, two waiting: depth counts both, as the router does
    poller = DepthPoller(metrics, [primary, fallback], interval_s=0.01)
    await poller.start()
    try:
        await asyncio.sleep(0.05)
        assert value(metrics, "alfred_image_queue_depth", pool="sdxl.primary") == 3
        assert value(metrics, "alfred_image_queue_depth", pool="sdxl.fallback") == 0
        await primary.enqueue(QueueMessage(job_id="j9", tenant="t"))
        await asyncio.sleep(0.05)
        assert value(metrics, "alfred_image_queue_depth", pool="sdxl.primary") == 4
    finally:
        await poller.stop()
    await primary.enqueue(QueueMessage(job_id="j10", tenant="t"))
    await asyncio.sleep(0.05)
    assert value(metrics, "alfred_image_queue_depth", pool="sdxl.primary") == 4  # stopped: no more reads
