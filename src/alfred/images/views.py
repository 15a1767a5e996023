"""How a job looks from outside (the jobs API, job events, webhook payloads): one rendering for all."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alfred.images.jobs import ImageJob, JobState, Route


def _ms(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round((end - start) * 1000, 1)


def job_view(job: ImageJob) -> dict[str, Any]:
    """The public JSON of a job (the prompt is left out in privacy mode)."""
    spec = job.spec
    view: dict[str, Any] = {
        "id": job.id,
        "object": "image.job",
        "status": job.state.value,
        "model": job.model,
        "created": int(job.created_at),
        "route": job.route.value if job.route else None,
        "route_reason": job.route_reason or None,
        "backend": job.backend,
        "attempts": job.attempts,
        "progress": round(job.progress, 4),
        "size": f"{spec.width}x{spec.height}",
        "n": spec.n,
        "seed": spec.seed,
        "steps": spec.steps,
        "preset": job.preset,
        "cache": "hit" if job.route is Route.CACHE else "miss",
        "cost": job.cost_usd,
        "currency": "USD",
        "timings": {
            "created_at": job.created_at,
            "routed_at": job.routed_at,
            "started_at": job.started_at,
            "finished_at": job.finished_at,
            "queue_ms": _ms(job.created_at, job.started_at),
            "run_ms": _ms(job.started_at, job.finished_at),
            "total_ms": _ms(job.created_at, job.finished_at),
        },
        "data": [{"url": image.url} for image in job.images] if job.state is JobState.SUCCEEDED else [],
        "error": None,
    }
    if job.predicted_wait_s is not None:
        view["predicted_wait_s"] = round(job.predicted_wait_s, 3)
    if not job.privacy:
        view["prompt"] = spec.prompt
        view["negative_prompt"] = spec.negative_prompt
        view["preset_fields"] = job.preset_fields
    if job.error is not None:
        view["error"] = {"code": job.error.code, "message": job.error.message}
    return view


def webhook_payload(job: ImageJob) -> dict[str, Any]:
    """A Standard Webhooks style envelope: ``type``, ``timestamp`` and the job as ``data``."""
    at = job.finished_at or job.created_at
    return {
        "type": f"image.job.{job.state.value}",
        "timestamp": datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z"),
        "data": job_view(job),
    }
