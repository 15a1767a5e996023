"""The image pipeline at a glance (``GET /admin/images``): each queue's depth against the routing
threshold, how jobs were routed, and what the fallback route cost in the last hour.

Not in the pinned SDK document: the console reads this shape (web/src/api/types.ts ``ImagesOverview``).
``recent`` is the newest jobs of every tenant, newest first, in the public job shape of
``GET /v1/images/jobs/{id}``, from the bounded listing the job store keeps.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from alfred.api.admin.access import Scope, deps_of, global_scope
from alfred.errors import ServiceUnavailableError
from alfred.images.jobs import RECENT_JOBS
from alfred.images.views import job_view

router = APIRouter(prefix="/admin", tags=["images"])

OVERVIEW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["pools", "route_split", "fallback_spend_usd", "recent"],
    "properties": {
        "pools": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["pool", "depth", "threshold"],
                "properties": {
                    "pool": {"type": "string"},
                    "depth": {"type": "integer"},
                    "in_flight": {"type": "integer"},
                    "threshold": {"type": "integer"},
                },
            },
        },
        "route_split": {"type": "object", "additionalProperties": {"type": "integer"}},
        "fallback_spend_usd": {"type": "number"},
        "recent": {"type": "array", "items": {"type": "object"}},
    },
}


@router.get(
    "/images",
    response_model=None,
    responses={200: {"content": {"application/json": {"schema": OVERVIEW_SCHEMA}}}},
)
async def images_overview(
    request: Request,
    scope: Scope = Depends(global_scope),
    recent: int = Query(20, ge=0, le=RECENT_JOBS, description="how many of the newest jobs to include"),
) -> dict[str, Any]:
    """Queue depths against the routing threshold, jobs per route, fallback spend in the last hour,
    and the newest jobs (every tenant's), newest first."""
    runtime = deps_of(request).images
    if runtime is None:
        raise ServiceUnavailableError("this server runs no image pipeline", code="not_configured")
    router_ = runtime.service.router
    pools = []
    for queue in runtime.queues:
        depth = await queue.depth()
        pools.append(
            {
                "pool": queue.name,
                "depth": depth.waiting,
                "in_flight": depth.in_flight,
                "threshold": router_.threshold,
            }
        )
    service = runtime.service
    jobs = await service.recorder.jobs.recent(recent) if recent else []
    split: Counter[str] = Counter()
    for (route, _code), count in router_.decisions.items():
        split[route] += count
    return {
        "pools": pools,
        "route_split": dict(split),
        "fallback_spend_usd": float(router_.fallback_spent_last_hour()),
        "recent": [job_view(await service.with_fresh_urls(job)) for job in jobs],
    }
