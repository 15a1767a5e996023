"""Image job events: decoding the SSE frames of GET /v1/images/jobs/{id}/events."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from alfred_sdk._errors import ImageJobFailedError, error_from_body
from alfred_sdk._generated import ImageJob
from alfred_sdk._sse import ServerEvent

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One step of a job: ``type`` is a job status or ``progress``; ``job`` is the job at that moment."""

    type: str
    job_id: str
    at: float
    progress: float | None
    message: str | None
    job: ImageJob

    @property
    def terminal(self) -> bool:
        return self.type in TERMINAL


def decode_event(frame: ServerEvent, headers: Mapping[str, str]) -> JobEvent:
    """A frame as a ``JobEvent``; an ``error`` frame raises the typed error it carries."""
    data = json.loads(frame.data)
    if frame.event == "error":
        raise error_from_body(500, data, headers)  # the stream had begun: the code says what failed
    return JobEvent(
        type=data["type"],
        job_id=data["job_id"],
        at=float(data["at"]),
        progress=None if data.get("progress") is None else float(data["progress"]),
        message=data.get("message"),
        job=ImageJob.from_dict(data["job"]),
    )


def job_failure(job: ImageJob) -> ImageJobFailedError:
    """The error for a job that ended without images."""
    code = job.error.code if job.error else job.status
    message = job.error.message if job.error else f"image job {job.id_} {job.status}"
    error = ImageJobFailedError(message, status=409 if job.status == "cancelled" else 502, code=code)
    error.job = job
    return error
