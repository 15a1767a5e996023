"""The image job record, its states, and the ``JobStore`` that keeps it (in memory here; Redis in jobs_redis).

A job moves ``queued → routed → running → succeeded | failed``; ``cancelled`` can end any live state.
Every write is a compare-and-set on the stored state, so when two workers race on one job (a
reclaimed job whose first worker was only slow), exactly one of them finishes it.
Jobs are scoped to the tenant that created them: ``get_for`` never returns another tenant's job.
"""

from __future__ import annotations

import enum
import secrets
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

import msgspec
from msgspec import Struct

from alfred.schema.images import GenerationSpec

Clock = Callable[[], float]

RECENT_JOBS = 50  # how many job ids a store keeps for "recent jobs" (GET /admin/images)


class JobState(enum.StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"
    ROUTED = "routed"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL: frozenset[JobState] = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})
LIVE: frozenset[JobState] = frozenset({JobState.QUEUED, JobState.ROUTED, JobState.RUNNING})


class Route(enum.StrEnum):
    """Which way a job went."""

    PRIMARY = "primary"
    FALLBACK = "fallback"
    CACHE = "cache"


class JobImage(Struct, frozen=True, kw_only=True):
    """One stored output: its blob key (content-addressed), URL at the time it was stored, type, size."""

    key: str
    url: str
    media_type: str = "image/png"
    size: int = 0


class JobError(Struct, frozen=True, kw_only=True):
    """Why a job failed: an OpenAI-style code, a message for people, and the HTTP status it maps to."""

    code: str
    message: str
    status: int = 502


class ImageJob(Struct, kw_only=True):
    """One image generation request as it moves through the pipeline."""

    id: str
    tenant: str
    model: str  # the public image model name
    spec: GenerationSpec
    state: JobState = JobState.QUEUED
    request_id: str = ""
    preset: str | None = None
    preset_fields: dict[str, str] = msgspec.field(default_factory=dict)
    response_format: str = "url"
    webhook_url: str | None = None
    privacy: bool = False  # the prompt is scrubbed from the record once the job ends
    route: Route | None = None
    route_reason: str = ""
    route_code: str = ""
    predicted_wait_s: float | None = None
    backend: str | None = None
    attempts: int = 0
    progress: float = 0.0
    progress_message: str = ""
    created_at: float = 0.0
    routed_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    deadline_s: float | None = None
    cost_usd: str = "0"
    images: list[JobImage] = msgspec.field(default_factory=list)
    error: JobError | None = None
    cache_key: str | None = None
    charged: bool = False
    ledger_hold: str | None = None  # the ledger reservation paying for this job (settled or released once)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    @property
    def cost(self) -> Decimal:
        return Decimal(self.cost_usd)

    def copy(self) -> ImageJob:
        """An independent copy (stores hand out copies so callers never mutate what is stored)."""
        return _decoder.decode(_encoder.encode(self))


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(ImageJob)


def encode_job(job: ImageJob) -> bytes:
    return _encoder.encode(job)


def decode_job(data: bytes) -> ImageJob:
    return _decoder.decode(data)


def new_job_id() -> str:
    """Unguessable ids: knowing one job id says nothing about another's."""
    return "imgjob_" + secrets.token_urlsafe(18)


def scrubbed(job: ImageJob) -> ImageJob:
    """The job as stored after it ends in privacy mode: no prompt text is kept."""
    if not job.privacy or not job.terminal:
        return job
    job.spec = msgspec.structs.replace(job.spec, prompt="", negative_prompt="")
    job.preset_fields = {}
    return job


class JobStore(Protocol):
    """Keeps job records. ``transition`` is the only write and is atomic (compare-and-set on the state)."""

    async def create(self, job: ImageJob) -> None:
        """Store a new job (its id must be new)."""
        ...

    async def get(self, job_id: str) -> ImageJob | None:
        """The job whatever its tenant (for workers, which act on the queue's word)."""
        ...

    async def get_for(self, tenant: str, job_id: str) -> ImageJob | None:
        """The job if it belongs to ``tenant``, else None (another tenant's job looks absent)."""
        ...

    async def transition(self, job: ImageJob, allowed_from: frozenset[JobState]) -> bool:
        """Replace the stored job with ``job`` if the stored state is in ``allowed_from``; True if written."""
        ...

    async def recent(self, limit: int) -> list[ImageJob]:
        """The newest jobs, newest first: at most ``limit`` and ``RECENT_JOBS``, expired ones left out."""
        ...

    async def close(self) -> None: ...


class MemoryJobStore:
    """Jobs in this process; finished jobs expire ``ttl_s`` after they end (read from ``clock``)."""

    def __init__(self, clock: Clock, ttl_s: float = 7 * 24 * 3600, recent_max: int = RECENT_JOBS) -> None:
        self._clock = clock
        self._ttl_s = ttl_s
        self._jobs: dict[str, tuple[bytes, float | None]] = {}
        self._recent: deque[str] = deque(maxlen=recent_max)  # ids, oldest first

    def _load(self, job_id: str) -> ImageJob | None:
        entry = self._jobs.get(job_id)
        if entry is None:
            return None
        data, expires = entry
        if expires is not None and self._clock() >= expires:
            del self._jobs[job_id]
            return None
        return decode_job(data)

    def _store(self, job: ImageJob) -> None:
        expires = self._clock() + self._ttl_s if job.terminal else None
        self._jobs[job.id] = (encode_job(scrubbed(job.copy())), expires)

    async def create(self, job: ImageJob) -> None:
        if job.id in self._jobs:
            raise ValueError(f"job {job.id} already exists")
        self._store(job)
        self._recent.append(job.id)

    async def get(self, job_id: str) -> ImageJob | None:
        return self._load(job_id)

    async def get_for(self, tenant: str, job_id: str) -> ImageJob | None:
        job = self._load(job_id)
        return job if job is not None and job.tenant == tenant else None

    async def transition(self, job: ImageJob, allowed_from: frozenset[JobState]) -> bool:
        current = self._load(job.id)
        if current is None or current.state not in allowed_from:
            return False
        self._store(job)
        return True

    async def recent(self, limit: int) -> list[ImageJob]:
        found: list[ImageJob] = []
        for job_id in reversed(self._recent):
            if len(found) >= limit:
                break
            job = self._load(job_id)
            if job is not None:
                found.append(job)
        return found

    async def close(self) -> None:
        self._jobs.clear()
        self._recent.clear()
