"""Wires the image pipeline from ``ImageSettings``: stores, queues, router, cache, recorder, service, workers.

The composition root calls ``build_image_service`` once and runs ``runtime.start``/``runtime.stop``
from its startup/shutdown hooks. A gateway that only submits passes ``run_workers=False``; an
``alfred worker`` process builds the same runtime with ``run_workers=True`` and just keeps it
running (its service stays unused). Both must share Redis (queue, jobs, state) to see each other.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from alfred.images.events import JobEvents
from alfred.images.factories import BackendFactory, build_pool, primary_slots
from alfred.images.jobs import JobStore, MemoryJobStore, Route
from alfred.images.metrics import DepthPoller, ImageMetrics
from alfred.images.presets import PresetBook
from alfred.images.queue import JobQueue
from alfred.images.queue_memory import MemoryJobQueue
from alfred.images.recorder import ChargeCallback, JobRecorder, ReleaseCallback
from alfred.images.result_cache import ResultCache
from alfred.images.router import QueueDepthRouter
from alfred.images.service import ImageService, ModelRoutes
from alfred.images.settings import ImageSettings
from alfred.images.spend import KeyValueSpendMeter, MemorySpendMeter, SpendMeter
from alfred.images.webhooks import WebhookSender
from alfred.images.worker import ImageWorker, PostProcess
from alfred.state import StateBackend
from alfred.storage.blobs import BlobStore

log = logging.getLogger("alfred.images")

Closer = Callable[[], Awaitable[None]]


async def _nothing(job: Any) -> None:
    return None


@dataclass
class ImageRuntime:
    """The built pipeline: the service the API calls, the workers, and what to close."""

    settings: ImageSettings
    service: ImageService
    workers: list[ImageWorker] = field(default_factory=list)
    queues: list[JobQueue] = field(default_factory=list)
    closers: list[Closer] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    depth_poller: DepthPoller | None = None

    async def start(self) -> None:
        for warning in self.warnings:
            log.warning(warning)
        for worker in self.workers:
            worker.start()
        if self.depth_poller is not None:
            await self.depth_poller.start()

    async def stop(self, grace_s: float = 10.0) -> None:
        if self.depth_poller is not None:
            await self.depth_poller.stop()
        for worker in self.workers:
            await worker.stop(grace_s)
        for worker in self.workers:
            await worker.pool.close()
        for queue in self.queues:
            await queue.close()
        for close in reversed(self.closers):
            await close()

    async def metrics(self) -> dict[str, Any]:
        """Route decisions, cache hit rate and cost saved, outcomes, queue depths (for /metrics)."""
        cache = self.service.cache.stats if self.service.cache is not None else None
        depths = {}
        for queue in self.queues:
            depth = await queue.depth()
            depths[queue.name] = {"waiting": depth.waiting, "in_flight": depth.in_flight}
        return {
            "route_decisions": {f"{r}:{c}": n for (r, c), n in self.service.router.decisions.items()},
            "jobs_finished": dict(self.service.recorder.finished),
            "cache": None
            if cache is None
            else {
                "hits_l1": cache.hits_l1,
                "hits_l2": cache.hits_l2,
                "misses": cache.misses,
                "hit_rate": round(cache.hit_rate, 4),
                "cost_saved_usd": str(cache.cost_saved),
            },
            "queues": depths,
            "mean_service_time_s": round(self.service.router.mean_service_time_s, 3),
        }


def licence_warnings(settings: ImageSettings) -> list[str]:
    """A commercial deployment serving a model whose licence forbids commercial use gets a warning."""
    if not settings.commercial:
        return []
    return [
        f"image model {m.name!r} is licensed for non-commercial use only, but this deployment is commercial"
        for m in settings.models
        if m.licence == "non-commercial"
    ]


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _redis(url: str, block_s: float) -> Any:
    from redis.asyncio import Redis

    # a blocked XREADGROUP must not hit the socket timeout
    return Redis.from_url(url, socket_timeout=block_s + 10, socket_connect_timeout=5)


def build_image_service(
    settings: ImageSettings,
    *,
    blobs: BlobStore,
    state: StateBackend,
    backend_factories: Mapping[str, BackendFactory],
    charge: ChargeCallback | None = None,
    release: ReleaseCallback | None = None,
    webhook_secret: str | None = None,
    postprocess: PostProcess | None = None,
    run_workers: bool | None = None,
    consumer: str | None = None,
    clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
    metrics: ImageMetrics | None = None,
) -> ImageRuntime:
    """Build the pipeline. ``state`` supplies pub/sub (job events), the L2 cache and the spend meter:
    use the Redis state backend whenever more than one process serves or works.
    ``run_workers`` defaults to ``settings.workers.embedded``. ``metrics`` records jobs as they end
    (in the process that ends them) and every queue's depth."""
    closers: list[Closer] = []
    queue_settings = settings.queue
    shared = state.kind == "redis"

    redis_clients: dict[str, Any] = {}

    def redis_for(url: str) -> Any:
        if url not in redis_clients:
            client = _redis(url, queue_settings.block_s)
            redis_clients[url] = client
            closers.append(client.aclose)
        return redis_clients[url]

    jobs: JobStore
    if settings.jobs.backend == "redis":
        from alfred.images.jobs_redis import RedisJobStore

        jobs = RedisJobStore(redis_for(settings.jobs.redis_url), settings.jobs.prefix, settings.jobs.ttl_s)
    else:
        jobs = MemoryJobStore(clock, settings.jobs.ttl_s)

    def make_queue(name: str) -> JobQueue:
        if queue_settings.backend == "redis":
            from alfred.images.queue_redis import RedisStreamQueue

            return RedisStreamQueue(
                redis_for(queue_settings.redis_url),
                name,
                prefix=queue_settings.prefix,
                visibility_timeout_s=queue_settings.visibility_timeout_s,
            )
        if queue_settings.backend == "kafka":
            from alfred.images.queue_kafka import KafkaJobQueue

            async def count(key: str) -> int:
                return await state.kv.incr(f"images:kafka-deliveries:{key}", 1, ttl_s=7 * 24 * 3600)

            return KafkaJobQueue(
                queue_settings.kafka_bootstrap_servers,
                name,
                prefix=queue_settings.prefix,
                visibility_timeout_s=queue_settings.visibility_timeout_s,
                counter=count,
            )
        return MemoryJobQueue(name, visibility_timeout_s=queue_settings.visibility_timeout_s, clock=monotonic)

    router = QueueDepthRouter.from_settings(settings.router, monotonic)
    spend: SpendMeter = KeyValueSpendMeter(state.kv, clock) if shared else MemorySpendMeter(monotonic)
    cache = None
    if settings.cache.enabled:
        cache = ResultCache(
            state.kv if shared else None,
            ttl_s=settings.cache.ttl_s,
            l1_size=settings.cache.l1_size,
            clock=monotonic,
        )
    webhooks = WebhookSender(settings.webhooks, secret=webhook_secret, clock=clock)
    closers.append(webhooks.close)
    recorder = JobRecorder(
        jobs,
        JobEvents(state.pubsub),
        charge=charge or _nothing,
        release=release or _nothing,
        cache=cache,
        spend=spend,
        webhooks=webhooks,
        observe_service_time=router.observe_service_time,
        clock=clock,
        metrics=metrics,
    )
    presets = PresetBook.load(settings.presets_file) if settings.presets_file else PresetBook.builtin()

    routes: dict[str, ModelRoutes] = {}
    queues: list[JobQueue] = []
    for model in settings.models:
        primary = make_queue(f"{model.name}.primary") if model.primary else None
        fallback = make_queue(f"{model.name}.fallback") if model.fallback else None
        queues.extend(q for q in (primary, fallback) if q is not None)
        routes[model.name] = ModelRoutes(model, primary, fallback, primary_slots(settings, model))

    service = ImageService(
        settings,
        routes,
        router,
        recorder,
        blobs,
        presets,
        cache=cache,
        spend=spend,
        webhooks=webhooks,
        clock=clock,
        metrics=metrics,
    )
    runtime = ImageRuntime(
        settings, service, queues=queues, closers=closers, warnings=licence_warnings(settings)
    )
    if metrics is not None:
        runtime.depth_poller = DepthPoller(metrics, queues)
    if settings.workers.embedded if run_workers is None else run_workers:
        runtime.workers = build_workers(
            settings,
            routes,
            recorder,
            blobs,
            backend_factories,
            consumer or default_consumer_name(),
            postprocess,
        )
    closers.append(jobs.close)
    return runtime


def build_workers(
    settings: ImageSettings,
    routes: Mapping[str, ModelRoutes],
    recorder: JobRecorder,
    blobs: BlobStore,
    factories: Mapping[str, BackendFactory],
    consumer: str,
    postprocess: PostProcess | None = None,
) -> list[ImageWorker]:
    """One worker per model and route that has backends, each over its own pool of instances."""
    workers = []
    for name, model_routes in routes.items():
        model = model_routes.settings
        for route, queue, backends, price in (
            (Route.PRIMARY, model_routes.primary, model.primary, model.prices.primary),
            (Route.FALLBACK, model_routes.fallback, model.fallback, model.prices.fallback),
        ):
            if queue is None:
                continue
            workers.append(
                ImageWorker(
                    queue,
                    build_pool(settings, model, backends, factories),
                    recorder,
                    blobs,
                    consumer=f"{consumer}:{name}:{route.value}",
                    price_per_image=price,
                    max_deliveries=settings.queue.max_deliveries,
                    retries=settings.workers.retries,
                    heartbeat_s=settings.workers.heartbeat_s,
                    block_s=settings.queue.block_s,
                    postprocess=postprocess,
                )
            )
    return workers
