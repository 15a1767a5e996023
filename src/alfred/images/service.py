"""``ImageService``: what the HTTP API asks of the image pipeline — submit, status, wait, cancel, events.

Submit validates and canonicalises the request (presets expanded, seed derived), answers from the
result cache when it can, otherwise creates the job, asks the router for a route and puts the job on
that route's queue (primary: the self-hosted pool's workers; fallback: the paid API's workers).
Jobs belong to the tenant that created them; every read is scoped to the caller's tenant.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass

from alfred.errors import InvalidRequestError, ModelNotFoundError, NotFoundError, ServiceUnavailableError
from alfred.images.events import JobEvent
from alfred.images.jobs import ImageJob, JobError, JobImage, JobState, Route, new_job_id
from alfred.images.metrics import ImageMetrics
from alfred.images.presets import PresetBook
from alfred.images.queue import JobQueue, QueueDepth, QueueMessage
from alfred.images.recorder import JobRecorder
from alfred.images.result_cache import CachedResult, ResultCache
from alfred.images.router import QueueDepthRouter, RouteRequest
from alfred.images.settings import ImageModelSettings, ImageSettings
from alfred.images.spec import cache_key, resolve_request
from alfred.images.spend import SpendMeter
from alfred.images.webhooks import WebhookSender
from alfred.schema.images import ImageRequest
from alfred.storage.blobs import BlobStore

log = logging.getLogger("alfred.images")

_ORDER = (JobState.QUEUED, JobState.ROUTED, JobState.RUNNING)

HoldHook = Callable[[ImageJob], Awaitable[None]]
"""Reserves a new job's price before it is queued, recording the hold on ``job.ledger_hold``."""


@dataclass(frozen=True, slots=True)
class ModelRoutes:
    """One image model's queues and the size of its primary pool (for the router)."""

    settings: ImageModelSettings
    primary: JobQueue | None
    fallback: JobQueue | None
    primary_slots: int


class ImageService:
    """Submit, read, wait for, cancel and follow image jobs."""

    def __init__(
        self,
        settings: ImageSettings,
        routes: Mapping[str, ModelRoutes],
        router: QueueDepthRouter,
        recorder: JobRecorder,
        blobs: BlobStore,
        presets: PresetBook,
        *,
        cache: ResultCache | None = None,
        spend: SpendMeter | None = None,
        webhooks: WebhookSender | None = None,
        clock: Callable[[], float] = time.time,
        poll_s: float = 1.0,
        metrics: ImageMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.routes = dict(routes)
        self.router = router
        self.recorder = recorder
        self.cache = cache
        self._jobs = recorder.jobs
        self._blobs = blobs
        self._presets = presets
        self._spend = spend
        self._webhooks = webhooks
        self._clock = clock
        self._poll_s = poll_s
        self._metrics = metrics

    # --- submit -----------------------------------------------------------------------------

    async def submit(
        self,
        tenant: str,
        request: ImageRequest,
        *,
        request_id: str = "",
        privacy: bool = False,
        hold: HoldHook | None = None,
    ) -> ImageJob:
        """Answer from the cache, or create, route and queue the job. ``hold`` reserves its price
        before it is queued (a cache hit costs nothing and holds nothing); if it raises (e.g. 402),
        no job is created."""
        routes = self._routes_for(request.model)
        model = routes.settings
        resolved = resolve_request(
            request,
            model,
            self._presets,
            max_images=self.settings.max_images,
            max_pixels=self.settings.max_pixels,
        )
        if request.webhook_url:
            if self._webhooks is None:
                raise InvalidRequestError("webhook_url: webhooks are not configured", param="webhook_url")
            await self._webhooks.validate(request.webhook_url)
        now = self._clock()
        job = ImageJob(
            id=new_job_id(),
            tenant=tenant,
            model=model.name,
            spec=resolved.spec,
            request_id=request_id,
            preset=resolved.preset,
            preset_fields=resolved.preset_fields,
            response_format=request.response_format or "url",
            webhook_url=request.webhook_url,
            privacy=privacy,
            created_at=now,
            deadline_s=request.wait if request.wait else None,
            cache_key=cache_key(tenant, resolved) if self.cache is not None else None,
        )
        if job.cache_key is not None and await self._answer_from_cache(job):
            return job
        if hold is not None:
            await hold(job)
        try:
            await self._jobs.create(job)
        except BaseException:
            await self.recorder.release(job)
            raise
        await self.recorder.publish(job)
        return await self._route(job, routes)

    def _routes_for(self, name: str | None) -> ModelRoutes:
        model = self.settings.model(name)
        if model is None or model.name not in self.routes:
            known = ", ".join(sorted(self.routes)) or "none"
            raise ModelNotFoundError(
                f"model: unknown image model {name!r} (available: {known})", param="model"
            )
        return self.routes[model.name]

    async def _answer_from_cache(self, job: ImageJob) -> bool:
        assert self.cache is not None and job.cache_key is not None
        hit = await self.cache.get(job.cache_key)
        if hit is None:
            return False
        images = await self._current_images(hit)
        if images is None:
            await self.cache.drop(job.cache_key)
            return False
        now = self._clock()
        job.state = JobState.SUCCEEDED
        job.route, job.route_code = Route.CACHE, "cache_hit"
        job.route_reason = f"exact result cache hit (images of job {hit.job_id})"
        job.routed_at = job.started_at = job.finished_at = now
        job.images, job.progress, job.cost_usd = images, 1.0, "0"
        await self.recorder.cached(job)
        return True

    async def _current_images(self, hit: CachedResult) -> list[JobImage] | None:
        """The cached images with fresh URLs, or None when a blob has gone (then it is a miss)."""
        images = []
        for image in hit.images:
            if not await self._blobs.exists(image.key):
                return None
            url = await self._blobs.url_for(image.key)
            images.append(JobImage(key=image.key, url=url, media_type=image.media_type, size=image.size))
        return images

    async def _route(self, job: ImageJob, routes: ModelRoutes) -> ImageJob:
        model = routes.settings
        depth = await routes.primary.depth() if routes.primary is not None else None
        if depth is not None and self._metrics is not None:
            assert routes.primary is not None
            self._metrics.queue_depth(routes.primary.name, depth.total)
        spent = None
        if self.router.spend_cap_per_hour is not None and self._spend is not None:
            spent = await self._spend.last_hour()
        decision = self.router.decide(
            RouteRequest(
                depth=depth or QueueDepth(0, 0),
                primary_slots=routes.primary_slots,
                deadline_s=job.deadline_s,
                fallback_cost=model.prices.fallback * job.spec.n,
                has_primary=routes.primary is not None,
                has_fallback=routes.fallback is not None,
                fallback_spent_last_hour=spent,
            )
        )
        job.state = JobState.ROUTED
        job.route, job.route_code, job.route_reason = decision.route, decision.code, decision.reason
        job.predicted_wait_s = decision.predicted_wait_s
        job.routed_at = self._clock()
        if not await self._jobs.transition(job, frozenset({JobState.QUEUED})):
            current = await self._jobs.get(job.id)
            return current or job  # cancelled before it was routed
        await self.recorder.publish(job, message=decision.reason)
        queue = routes.primary if decision.route is Route.PRIMARY else routes.fallback
        assert queue is not None
        try:
            await queue.enqueue(QueueMessage(job_id=job.id, tenant=job.tenant))
        except Exception as exc:
            log.exception("could not enqueue job %s on %s", job.id, queue.name)
            error = JobError(
                code="queue_unavailable", message=f"the {queue.name} queue is unavailable", status=503
            )
            await self.recorder.fail(job, error)
            raise ServiceUnavailableError("the image queue is unavailable; try again shortly") from exc
        return job

    async def with_fresh_urls(self, job: ImageJob) -> ImageJob:
        """The job with its image URLs minted now (presigned URLs expire; CDN URLs come out the same)."""
        job.images = [
            JobImage(key=i.key, url=await self._blobs.url_for(i.key), media_type=i.media_type, size=i.size)
            for i in job.images
        ]
        return job

    def preset_fields(self, name: str) -> list[str]:
        """The fields a preset takes (empty for an unknown preset: submit then names the error)."""
        preset = self._presets.get(name)
        return sorted(preset.fields) if preset is not None else []

    # --- read, wait, cancel, follow -----------------------------------------------------------

    async def get(self, tenant: str, job_id: str) -> ImageJob:
        job = await self._jobs.get_for(tenant, job_id)
        if job is None:
            raise NotFoundError(f"no image job {job_id!r}", param="id")
        return job

    async def wait(self, tenant: str, job_id: str, timeout_s: float) -> ImageJob:
        """The job once it has ended, or as it stands when ``timeout_s`` runs out."""
        job = await self.get(tenant, job_id)
        if job.terminal or timeout_s <= 0:
            return job
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                async with contextlib.aclosing(self.events(tenant, job_id)) as stream:
                    async for _, latest in stream:
                        job = latest
                        if job.terminal:
                            return job
        return await self.get(tenant, job_id)

    async def cancel(self, tenant: str, job_id: str) -> ImageJob:
        """Cancel a live job (a running one is abandoned by its worker); an ended job is returned as is."""
        for _ in range(5):  # the state may move under us; each try is a compare-and-set
            job = await self.get(tenant, job_id)
            if job.terminal or await self.recorder.cancel(job):
                return job
        return await self.get(tenant, job_id)

    async def events(self, tenant: str, job_id: str) -> AsyncGenerator[tuple[JobEvent, ImageJob], None]:
        """The job's events from the start, then live, ending with its terminal event.

        States already passed are replayed from the record (so a late listener still sees
        queued → routed → running); progress is live only. The store is re-read on every state
        event and every ``poll_s``, so a lost pub/sub message only delays an event.
        """
        await self.get(tenant, job_id)
        async with self.recorder.events.subscribe(job_id) as feed:
            inbox: asyncio.Queue[JobEvent] = asyncio.Queue()

            async def pump() -> None:
                with contextlib.suppress(Exception):  # a broken feed leaves the polling
                    async for event in feed:
                        inbox.put_nowait(event)

            pumping = asyncio.ensure_future(pump())
            try:
                job = await self.get(tenant, job_id)
                emitted: set[str] = set()
                while True:
                    for passed in self._catch_up(job, emitted):
                        yield passed, job
                    if job.terminal:
                        return
                    event: JobEvent | None
                    try:
                        event = await asyncio.wait_for(inbox.get(), timeout=self._poll_s)
                    except TimeoutError:
                        event = None
                    if event is not None and event.type == "progress":
                        job.progress = event.progress or 0.0
                        job.progress_message = event.message
                        yield event, job
                        continue
                    job = await self._jobs.get_for(tenant, job_id) or job
            finally:
                pumping.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pumping

    def _catch_up(self, job: ImageJob, emitted: set[str]) -> list[JobEvent]:
        reached = {
            JobState.QUEUED: job.created_at,
            JobState.ROUTED: job.routed_at,
            JobState.RUNNING: job.started_at,
        }
        out = []
        for state in _ORDER:
            at = reached[state]
            if at is not None and state.value not in emitted and job.route is not Route.CACHE:
                emitted.add(state.value)
                message = job.route_reason if state is JobState.ROUTED else ""
                out.append(JobEvent(type=state.value, job_id=job.id, at=at, message=message))
        if job.terminal and job.state.value not in emitted:
            emitted.add(job.state.value)
            out.append(JobEvent(type=job.state.value, job_id=job.id, at=job.finished_at or self._clock()))
        return out
