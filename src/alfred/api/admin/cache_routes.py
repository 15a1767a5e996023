"""The response caches per model group (``GET /admin/cache``) and the flush (``POST /admin/cache/flush``).

A flush starts a new generation for the group in the state backend (Redis when shared), so every
gateway process stops answering from the group's old entries within a second. Entry counts and hit
rates are the answering process's own (its L1 and semantic index; the fleet-wide hit rates are on
``/metrics``). Global admins only; a flush is audited.
Not in the pinned SDK document: the console reads these shapes (web/src/api/types.ts ``CacheGroup``).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alfred.api.admin.access import Scope, deps_of, global_scope
from alfred.api.admin.deps import AdminDeps
from alfred.cache.build import Caches
from alfred.cache.groups import cached_groups, flush, summarize
from alfred.errors import NotFoundError, ServiceUnavailableError, UnprocessableError
from alfred.ledger import AuditEvent

log = logging.getLogger("alfred.admin")

router = APIRouter(prefix="/admin", tags=["cache"])

SCOPE_NOTE = "this process"  # what the counts and rates cover: say so in every answer


class _FlushIn(BaseModel):
    # Validated here but documented inline (below), so the pinned component schemas stay as they are.
    model_config = ConfigDict(extra="forbid")
    group: str = Field(min_length=1, max_length=200)


_RATE = {"anyOf": [{"type": "number", "minimum": 0, "maximum": 1}, {"type": "null"}]}
GROUP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["group", "exact_entries", "semantic_entries", "exact_hit_rate", "semantic_hit_rate"],
    "properties": {
        "group": {"type": "string"},
        "generation": {"type": "integer", "description": "the group's flush generation"},
        "exact_entries": {"type": "integer", "description": "live exact entries in this process's L1"},
        "semantic_entries": {"type": "integer", "description": "live questions in this process's index"},
        "lookups": {"type": "integer"},
        "exact_hit_rate": _RATE,
        "semantic_hit_rate": _RATE,
    },
}
_LIST = {
    "type": "object",
    "required": ["groups", "counted_in"],
    "properties": {
        "groups": {"type": "array", "items": GROUP_SCHEMA},
        "counted_in": {"type": "string", "description": "entries and rates are this process's"},
    },
}
_FLUSHED = {
    "type": "object",
    "required": ["group", "generation", "exact_entries_dropped", "semantic_entries_dropped"],
    "properties": {
        "group": {"type": "string"},
        "generation": {"type": "integer", "description": "the group's new generation"},
        "exact_entries_dropped": {"type": "integer", "description": "freed from this process's L1 now"},
        "semantic_entries_dropped": {"type": "integer", "description": "freed from this process's index now"},
        "counted_in": {"type": "string"},
    },
}
_FLUSH_BODY = {
    "required": True,
    "content": {"application/json": {"schema": _FlushIn.model_json_schema()}},
}


def _caches(deps: AdminDeps) -> Caches:
    if deps.caches is None:
        raise NotFoundError("the cache is off in this deployment", code="cache_off")
    return deps.caches


def _groups(deps: AdminDeps, caches: Caches) -> list[str]:
    # Only chat groups: the response cache answers chat completions, never embeddings or images.
    catalog = deps.routing.router.catalog.groups() if deps.routing is not None else []
    known = [g.name for g in catalog if g.kind == "chat"]
    return cached_groups(caches, known)


async def _wanted(request: Request) -> str:
    try:
        raw = await request.json()
    except ValueError:
        raise UnprocessableError('the body must be JSON: {"group": "<model group>"}') from None
    try:
        return _FlushIn.model_validate(raw).group
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


@router.get(
    "/cache", response_model=None, responses={200: {"content": {"application/json": {"schema": _LIST}}}}
)
async def cache_groups(request: Request, scope: Scope = Depends(global_scope)) -> dict[str, Any]:
    """Each model group with caching on: live entries and hit rates in the process that answers."""
    deps = deps_of(request)
    caches = _caches(deps)
    summaries = await summarize(caches, _groups(deps, caches))
    return {
        "groups": [
            {
                "group": s.group,
                "generation": s.generation,
                "exact_entries": s.exact_entries,
                "semantic_entries": s.semantic_entries,
                "lookups": s.lookups,
                "exact_hit_rate": s.exact_hit_rate,
                "semantic_hit_rate": s.semantic_hit_rate,
            }
            for s in summaries
        ],
        "counted_in": SCOPE_NOTE,
    }


@router.post(
    "/cache/flush",
    response_model=None,
    openapi_extra={"requestBody": _FLUSH_BODY},
    responses={200: {"content": {"application/json": {"schema": _FLUSHED}}}},
)
async def flush_group(request: Request, scope: Scope = Depends(global_scope)) -> dict[str, Any]:
    """Flush one model group's exact and semantic entries, in every process within a second. Audited."""
    group = await _wanted(request)
    deps = deps_of(request)
    caches = _caches(deps)
    if group not in _groups(deps, caches):
        raise NotFoundError(f"no cached model group {group!r}; GET /admin/cache lists them", param="group")
    try:
        flushed = await flush(caches, group)
    except Exception:
        log.exception("cache flush failed")
        raise ServiceUnavailableError(
            "the state backend could not record the flush; nothing was flushed, try again",
            code="state_unavailable",
        ) from None
    p = scope.principal
    details = {
        "group": group,
        "generation": flushed.generation,
        "exact_entries_dropped": flushed.exact_entries_dropped,
        "semantic_entries_dropped": flushed.semantic_entries_dropped,
    }
    await scope.ledger.audit.record(
        AuditEvent("cache.flushed", f"flushed the cache of {group}", p.actor_id, details, p.ip_address)
    )
    return {**details, "counted_in": SCOPE_NOTE}
