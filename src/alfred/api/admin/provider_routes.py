"""Each deployment's circuit breaker and health, and the admin override (``/admin/providers``).

The breaker's state lives in the state backend (Redis when shared), so a breaker forced here is forced
for every gateway process; health (latency, error rate, in flight) is this process's own view.
Not in the pinned SDK document: the console reads these shapes (web/src/api/types.ts).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, ValidationError

from alfred.api.admin.access import Scope, deps_of, global_scope
from alfred.errors import NotFoundError, ServiceUnavailableError, UnprocessableError
from alfred.ledger import AuditEvent
from alfred.routing.build import Routing
from alfred.routing.catalog import Deployment
from alfred.state.base import BreakerState, BreakerStatus

router = APIRouter(prefix="/admin", tags=["providers"])
Forced = Literal["open", "closed", "auto"]


class _BreakerIn(BaseModel):
    # Validated here but documented inline (below), so the pinned component schemas stay as they are.
    model_config = ConfigDict(extra="forbid")
    state: Forced


_NUMBER_OR_NULL: dict[str, Any] = {"anyOf": [{"type": "number"}, {"type": "null"}]}
PROVIDER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["deployment", "group", "provider", "breaker", "forced", "in_flight"],
    "properties": {
        "deployment": {"type": "string", "description": "group/provider/model"},
        "group": {"type": "string"},
        "provider": {"type": "string"},
        "model": {"type": "string"},
        "breaker": {"type": "string", "enum": ["closed", "open", "half_open"]},
        "forced": {"anyOf": [{"type": "string", "enum": ["open", "closed"]}, {"type": "null"}]},
        "failures": {"type": "integer"},
        "successes": {"type": "integer"},
        "probe_in_flight": {"type": "boolean"},
        "latency_ewma_ms": _NUMBER_OR_NULL,
        "latency_p95_ms": _NUMBER_OR_NULL,
        "error_rate": _NUMBER_OR_NULL,
        "in_flight": {"type": "integer"},
        "samples": {"type": "integer"},
    },
}
_LIST = {
    "type": "object",
    "required": ["data"],
    "properties": {"data": {"type": "array", "items": PROVIDER_SCHEMA}},
}
_BREAKER_BODY = {
    "required": True,
    "content": {"application/json": {"schema": _BreakerIn.model_json_schema()}},
}


async def _wanted(request: Request) -> Forced:
    try:
        raw = await request.json()
    except ValueError:
        raise UnprocessableError('the body must be JSON: {"state": "open" | "closed" | "auto"}') from None
    try:
        return _BreakerIn.model_validate(raw).state
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


def _routing(request: Request) -> Routing:
    routing = deps_of(request).routing
    if routing is None:
        raise ServiceUnavailableError("this server routes no providers", code="not_configured")
    return routing


def _deployments(routing: Routing) -> list[Deployment]:
    return [d for group in routing.router.catalog.groups() for d in group.deployments]


def _row(routing: Routing, deployment: Deployment, status: BreakerStatus) -> dict[str, Any]:
    health = routing.health.snapshot(deployment.id)
    return {
        "deployment": deployment.id,
        "group": deployment.group,
        "provider": deployment.endpoint.provider,
        "model": deployment.endpoint.model,
        "breaker": status.state.value,
        "forced": status.state.value if status.forced else None,
        "failures": status.failures,
        "successes": status.successes,
        "probe_in_flight": status.probe_in_flight,
        "latency_ewma_ms": health.ewma_ms,
        "latency_p95_ms": health.p95_ms,
        "error_rate": health.error_rate,
        "in_flight": health.in_flight,
        "samples": health.samples,
    }


@router.get(
    "/providers", response_model=None, responses={200: {"content": {"application/json": {"schema": _LIST}}}}
)
async def list_providers(request: Request, scope: Scope = Depends(global_scope)) -> dict[str, Any]:
    """Every deployment with its breaker (shared across processes) and its health as this process sees it."""
    routing = _routing(request)
    deployments = _deployments(routing)
    states = await routing.breaker.states(d.id for d in deployments)
    return {"data": [_row(routing, d, states[d.id]) for d in deployments]}


@router.post(
    "/providers/{deployment:path}/breaker",
    response_model=None,
    openapi_extra={"requestBody": _BREAKER_BODY},
    responses={200: {"content": {"application/json": {"schema": PROVIDER_SCHEMA}}}},
)
async def force_breaker(
    request: Request,
    deployment: str,
    scope: Scope = Depends(global_scope),
) -> dict[str, Any]:
    """Force the breaker ``open`` or ``closed`` for every process (results then change nothing), or
    ``auto`` to hand it back to the state machine, closed and reset. Audited."""
    wanted = await _wanted(request)
    routing = _routing(request)
    found = next((d for d in _deployments(routing) if d.id == deployment), None)
    if found is None:
        raise NotFoundError(
            f"no deployment {deployment!r}; GET /admin/providers lists them", param="deployment"
        )
    target = None if wanted == "auto" else BreakerState(wanted)
    transition = await routing.breaker.force(deployment, target)
    p = scope.principal
    details = {"deployment": deployment, "state": wanted, "from": transition.source.value}
    await scope.ledger.audit.record(
        AuditEvent(
            "breaker.forced", f"forced breaker of {deployment} {wanted}", p.actor_id, details, p.ip_address
        )
    )
    return _row(routing, found, await routing.breaker.state(deployment))
