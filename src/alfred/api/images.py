"""The Images API: ``POST /v1/images/generations`` (OpenAI-compatible, plus presets and jobs) and
``GET|DELETE /v1/images/jobs/{id}``, ``GET /v1/images/jobs/{id}/events`` (SSE).

A generation waits up to ``wait`` seconds (default from config; 0 = asynchronous): finished in time
→ 200 with OpenAI's ``{"created", "data": [{"url"}]}``; not yet → 202 with the job and a
``Location`` to poll. Who the caller is comes from the injected ``CallerOf`` (the tenant that owns
the jobs, and whether privacy mode is on): ``authenticated_caller`` when governance is on (401 for a
bad key; jobs and files belong to the caller's team, else to the user), ``credential_caller`` when
it is off. Optional governance hooks run before a job is queued: the safety policy on the prompt
(400 ``content_policy_violation``) and a hold on the caller's wallet for the images (402).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass

import msgspec

from alfred.api.calls import client_ip
from alfred.api.errors import error_body, send_error
from alfred.api.http import (
    SSE_HEADERS,
    Receive,
    Scope,
    Send,
    encode_headers,
    read_body,
    request_headers,
    send_bytes,
    send_stream,
)
from alfred.api.images_wire import images_response, parse_image_request
from alfred.api.middleware.request_id import request_id_of
from alfred.errors import AlfredError, NotFoundError
from alfred.images.charges import ImageCharges, Payer
from alfred.images.jobs import ImageJob, JobState
from alfred.images.prompt_safety import ImagePromptSafety
from alfred.images.service import HoldHook, ImageService
from alfred.images.views import job_view
from alfred.pipeline.call import Identity
from alfred.schema.images import ImageRequest
from alfred.storage.blobs import BlobStore

_encoder = msgspec.json.Encoder()
JOBS_PREFIX = "/v1/images/jobs/"


PRIVACY_HEADERS = ("x-alfred-privacy", "x-privacy-mode")  # as chat's quota stage reads them


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking: the tenant that owns the jobs, whether its prompts may be stored, and (when
    authenticated) the identity that safety policy and the ledger look at."""

    tenant: str
    privacy: bool = False
    identity: Identity | None = None
    client_ip: str | None = None

    def payer(self) -> Payer | None:
        """The ledger user who pays, if any (anonymous and master-key callers hold nothing)."""
        identity = self.identity
        if identity is None or identity.user_id is None or not identity.user_id.isdigit():
            return None
        key_id = int(identity.key_id) if identity.key_id and identity.key_id.isdigit() else None
        return Payer(int(identity.user_id), key_id, identity.priority, self.client_ip)


CallerOf = Callable[[Scope, dict[str, str]], Awaitable[Caller]]
Authenticate = Callable[[Mapping[str, str]], Awaitable[Identity]]
"""Headers → identity, raising ``AuthenticationError`` (401); ``Authenticator.authenticate`` is one."""


def _privacy(headers: Mapping[str, str]) -> bool:
    return any(headers.get(name, "").strip().lower() == "strict" for name in PRIVACY_HEADERS)


def tenant_of(identity: Identity) -> str:
    """Jobs and files are shared within a team, else owned by the user (or the key, or nobody)."""
    if identity.team_id is not None:
        return f"team:{identity.team_id}"
    if identity.user_id is not None:
        return f"user:{identity.user_id}"
    if identity.key_id is not None:
        return f"key:{identity.key_id}"
    return "anonymous"


def authenticated_caller(authenticate: Authenticate) -> CallerOf:
    """A ``CallerOf`` from the gateway's authenticator."""

    async def caller_of(scope: Scope, headers: dict[str, str]) -> Caller:
        identity = await authenticate(headers)
        return Caller(tenant_of(identity), _privacy(headers), identity, client_ip(scope))

    return caller_of


async def credential_caller(scope: Scope, headers: dict[str, str]) -> Caller:
    """Until the auth stage names a team: one tenant per presented credential (its hash, never the key)."""
    auth = headers.get("authorization", "")
    credential = auth[7:].strip() if auth.lower().startswith("bearer ") else headers.get("x-api-key", "")
    if not credential:
        return Caller("anonymous")
    return Caller("cred:" + hashlib.sha256(credential.encode()).hexdigest()[:32])


def _job_headers(job: ImageJob) -> dict[str, str]:
    headers = {"x-alfred-job-id": job.id, "x-alfred-model": job.model, "x-alfred-cost": job.cost_usd}
    if job.route is not None:
        headers["x-alfred-route"] = job.route.value
        headers["x-alfred-cache"] = "hit" if job.route.value == "cache" else "miss"
    return headers


def _failure(job: ImageJob) -> AlfredError:
    error = job.error
    if job.state is JobState.CANCELLED:
        return AlfredError(f"image job {job.id} was cancelled", code="cancelled", status=409)
    if error is None:
        return AlfredError(f"image job {job.id} failed", code="job_failed", status=502)
    return AlfredError(f"image job {job.id} failed: {error.message}", code=error.code, status=error.status)


class ImageGenerationsEndpoint:
    """POST /v1/images/generations."""

    def __init__(
        self,
        service: ImageService,
        blobs: BlobStore,
        max_body_bytes: int,
        caller_of: CallerOf = credential_caller,
        *,
        safety: ImagePromptSafety | None = None,
        charges: ImageCharges | None = None,
    ) -> None:
        self._service = service
        self._blobs = blobs
        self._max_body = max_body_bytes
        self._caller_of = caller_of
        self._safety = safety
        self._charges = charges

    async def _screen(self, caller: Caller, request: ImageRequest) -> ImageRequest:
        if self._safety is None:
            return request
        identity = caller.identity
        screening = await self._safety.screen(
            request,
            team_id=identity.team_id if identity else None,
            key_id=identity.key_id if identity else None,
        )
        return screening.request

    def _hold_for(self, caller: Caller) -> HoldHook | None:
        payer = caller.payer()
        if self._charges is None or payer is None:
            return None
        return functools.partial(self._charges.hold, payer)

    def _preset_fields(self, name: str) -> list[str]:
        return self._service.preset_fields(name)

    async def _bytes(self, job: ImageJob) -> list[bytes]:
        return [await self._blobs.get(image.key) for image in job.images]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = request_id_of(scope) or ""
        headers = request_headers(scope)
        job: ImageJob | None = None
        try:
            caller = await self._caller_of(scope, headers)  # 401 before the body is even read
            body = await read_body(receive, headers, self._max_body)
            request = await self._screen(caller, parse_image_request(body, self._preset_fields))
            job = await self._service.submit(
                caller.tenant,
                request,
                request_id=request_id,
                privacy=caller.privacy,
                hold=self._hold_for(caller),
            )
            settings = self._service.settings
            wait = settings.default_wait_s if request.wait is None else min(request.wait, settings.max_wait_s)
            job = await self._service.wait(caller.tenant, job.id, wait)
            if job.state is JobState.SUCCEEDED:
                job = await self._service.with_fresh_urls(job)
                payload = await images_response(job, job.response_format, self._bytes)
                await send_bytes(send, 200, _encoder.encode(payload), extra=_job_headers(job))
                return
            if job.terminal:
                raise _failure(job)
        except AlfredError as exc:
            if job is not None:
                exc.headers = {**_job_headers(job), **exc.headers}
            await send_error(send, exc, request_id)
            return
        location = {"location": JOBS_PREFIX + job.id}
        await send_bytes(send, 202, _encoder.encode(job_view(job)), extra={**_job_headers(job), **location})


class ImageJobsEndpoint:
    """GET /v1/images/jobs/{id}, GET /v1/images/jobs/{id}/events (SSE), DELETE /v1/images/jobs/{id}."""

    def __init__(self, service: ImageService, caller_of: CallerOf = credential_caller) -> None:
        self._service = service
        self._caller_of = caller_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = request_id_of(scope) or ""
        path: str = scope["path"]
        rest = path[len(JOBS_PREFIX) :] if path.startswith(JOBS_PREFIX) else ""
        job_id, _, tail = rest.partition("/")
        method = scope["method"]
        try:
            if not job_id or tail not in ("", "events") or (tail and method != "GET"):
                raise NotFoundError(f"no route for {method} {path}")
            caller = await self._caller_of(scope, request_headers(scope))
            if tail == "events":
                await self._service.get(caller.tenant, job_id)  # 404 before the stream starts
                frames = self._frames(caller.tenant, job_id, request_id)
                await send_stream(
                    send, receive, 200, [*SSE_HEADERS, *encode_headers({"x-alfred-job-id": job_id})], frames
                )
                return
            if method == "DELETE":
                job = await self._service.cancel(caller.tenant, job_id)
            else:
                job = await self._service.with_fresh_urls(await self._service.get(caller.tenant, job_id))
        except AlfredError as exc:
            await send_error(send, exc, request_id)
            return
        await send_bytes(send, 200, _encoder.encode(job_view(job)), extra=_job_headers(job))

    async def _frames(self, tenant: str, job_id: str, request_id: str) -> AsyncIterator[bytes]:
        try:
            async for event, job in self._service.events(tenant, job_id):
                data = {
                    "type": event.type,
                    "job_id": job_id,
                    "at": event.at,
                    "progress": event.progress,
                    "message": event.message,
                    "job": job_view(job),
                }
                yield f"event: {event.type}\n".encode() + b"data: " + _encoder.encode(data) + b"\n\n"
        except AlfredError as exc:
            yield b"event: error\ndata: " + error_body(exc, request_id) + b"\n\n"
