"""``JobRecorder``: every change of a job's state, in one place, with what must follow it.

Each change is a compare-and-set in the job store; only the writer that wins publishes the event,
settles the cost and sends the webhook, so a job raced by two workers is finished, charged and
announced once. Settling is retried on redelivery until the job is marked ``charged`` (the
``charge`` callback must itself be idempotent on the job id, which makes the retry safe).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal

from alfred.images.events import JobEvent, JobEvents
from alfred.images.jobs import LIVE, ImageJob, JobError, JobImage, JobState, JobStore, Route
from alfred.images.metrics import ImageMetrics, record_job
from alfred.images.result_cache import CachedResult, ResultCache
from alfred.images.spend import SpendMeter
from alfred.images.views import webhook_payload
from alfred.images.webhooks import WebhookSender

log = logging.getLogger("alfred.images")

ChargeCallback = Callable[[ImageJob], Awaitable[None]]
"""Settles a finished job's cost in the ledger; must be idempotent on ``job.id``."""

ReleaseCallback = Callable[[ImageJob], Awaitable[None]]
"""Drops what was held for a job that failed or was cancelled; must be idempotent on ``job.id``."""

ServiceTimeObserver = Callable[[float], None]

_STARTABLE = frozenset({JobState.QUEUED, JobState.ROUTED, JobState.RUNNING})
_RUNNING = frozenset({JobState.RUNNING})
_SUCCEEDED = frozenset({JobState.SUCCEEDED})


async def _no_charge(job: ImageJob) -> None:
    return None


async def _no_release(job: ImageJob) -> None:
    return None


class JobRecorder:
    """Writes job transitions and runs their consequences (events, cost, cache, spend, webhooks)."""

    def __init__(
        self,
        jobs: JobStore,
        events: JobEvents,
        *,
        charge: ChargeCallback = _no_charge,
        release: ReleaseCallback = _no_release,
        cache: ResultCache | None = None,
        spend: SpendMeter | None = None,
        webhooks: WebhookSender | None = None,
        observe_service_time: ServiceTimeObserver | None = None,
        clock: Callable[[], float] = time.time,
        metrics: ImageMetrics | None = None,
    ) -> None:
        self.jobs = jobs
        self._metrics = metrics
        self.events = events
        self._charge = charge
        self._release = release
        self._cache = cache
        self._spend = spend
        self._webhooks = webhooks
        self._observe = observe_service_time
        self._clock = clock
        self.finished: dict[str, int] = {}  # terminal state → count, for metrics

    async def publish(
        self, job: ImageJob, kind: str | None = None, progress: float | None = None, message: str = ""
    ) -> None:
        event = JobEvent(
            type=kind or job.state.value, job_id=job.id, at=self._clock(), progress=progress, message=message
        )
        try:
            await self.events.publish(event)
        except Exception:  # events are a live feed; the job store stays the record
            log.warning("could not publish %s for job %s", event.type, job.id, exc_info=True)

    async def start(self, job: ImageJob, backend: str) -> ImageJob | None:
        """queued/routed/running → running on ``backend``; None when the job ended meanwhile."""
        job.state = JobState.RUNNING
        job.backend = backend
        job.attempts += 1
        job.started_at = self._clock()
        job.progress, job.progress_message = 0.0, ""
        if not await self.jobs.transition(job, _STARTABLE):
            return None
        await self.publish(job, message=f"attempt {job.attempts} on {backend}")
        return job

    async def progress(self, job: ImageJob, fraction: float, message: str, store: bool) -> None:
        job.progress, job.progress_message = max(0.0, min(1.0, fraction)), message
        if store:
            await self.jobs.transition(job, _RUNNING)
        await self.publish(job, "progress", job.progress, message)

    async def succeed(self, job: ImageJob, images: list[JobImage], cost: Decimal) -> bool:
        """running → succeeded; True when this writer won (and then settled it)."""
        job.state = JobState.SUCCEEDED
        job.images = images
        job.cost_usd = str(cost)
        job.progress = 1.0
        job.finished_at = self._clock()
        job.error = None
        if not await self.jobs.transition(job, _RUNNING):
            return False
        if job.route is Route.PRIMARY and self._observe is not None and job.started_at is not None:
            self._observe(job.finished_at - job.started_at)
        if job.route is Route.FALLBACK and self._spend is not None and cost:
            await self._spend.add(cost)
        await self.settle(job)
        return True

    async def cached(self, job: ImageJob) -> None:
        """A job answered from the result cache: already succeeded when created."""
        await self.jobs.create(job)
        await self.settle(job)

    async def settle(self, job: ImageJob) -> None:
        """Charge once, remember the result, tell listeners. Safe to repeat until ``charged`` is set."""
        if not job.charged:
            await self._charge(job)
            job.charged = True
            await self.jobs.transition(job, _SUCCEEDED)
        if self._cache is not None and job.cache_key and job.route is not Route.CACHE:
            result = CachedResult(
                images=job.images,
                cost_usd=job.cost_usd,
                model=job.model,
                job_id=job.id,
                created_at=job.created_at,
            )
            await self._cache.put(job.cache_key, result)
        await self._ended(job)

    async def fail(self, job: ImageJob, error: JobError, allowed_from: frozenset[JobState] = LIVE) -> bool:
        job.state = JobState.FAILED
        job.error = error
        job.finished_at = self._clock()
        if not await self.jobs.transition(job, allowed_from):
            return False
        await self._ended(job)
        return True

    async def cancel(self, job: ImageJob) -> bool:
        job.state = JobState.CANCELLED
        job.error = JobError(code="cancelled", message="cancelled by the client", status=409)
        job.finished_at = self._clock()
        if not await self.jobs.transition(job, LIVE):
            return False
        await self._ended(job)
        return True

    async def release(self, job: ImageJob) -> None:
        """Free what was held for a job that will not be charged (best effort: the ledger's
        reconciliation expires a hold that could not be released now)."""
        try:
            await self._release(job)
        except Exception:
            log.warning("could not release the hold of job %s", job.id, exc_info=True)

    async def _ended(self, job: ImageJob) -> None:
        self.finished[job.state.value] = self.finished.get(job.state.value, 0) + 1
        if self._metrics is not None:
            record_job(self._metrics, job)
        if job.state is not JobState.SUCCEEDED:
            await self.release(job)
        await self.publish(job)
        if job.webhook_url and self._webhooks is not None and self._webhooks.enabled:
            self._webhooks.send(job.webhook_url, f"{job.id}.{job.state.value}", webhook_payload(job))
