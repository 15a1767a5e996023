"""The asynchronous client: ``AsyncAlfred``, the same calls as ``Alfred`` awaited."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx

from alfred_sdk import _operations as ops
from alfred_sdk._client import client_settings
from alfred_sdk._errors import APIConnectionError, error_from_response
from alfred_sdk._generated import (
    ApprovalOut,
    AuditOut,
    CheckOut,
    CreatedKeyOut,
    ImageJob,
    KeyOut,
    MeOut,
    PostingOut,
    TeamOut,
    TransactionOut,
    UsageOut,
    UserOut,
    VacationOut,
    VerdictOut,
    WalletOut,
)
from alfred_sdk._jobs import JobEvent, decode_event, job_failure
from alfred_sdk._sse import SSEDecoder

AsyncProgressHook = Callable[[JobEvent], Awaitable[None] | None]


class AsyncAlfred:
    """An asyncio client for one gateway; ``images`` and ``admin`` group the calls."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 60.0,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url, headers = client_settings(api_key, base_url)
        self._http = http_client or httpx.AsyncClient(timeout=timeout)
        self._headers = headers
        self.images = AsyncImages(self)
        self.admin = AsyncAdmin(self)

    async def __aenter__(self) -> AsyncAlfred:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def send(self, request: ops.Request) -> httpx.Response:
        """Send one request; an error status raises its typed error."""
        try:
            response = await self._http.request(
                request.method,
                self.base_url + request.path,
                json=request.json,
                params=request.params,
                headers=self._headers,
            )
        except httpx.HTTPError as exc:
            raise APIConnectionError(f"{request.method} {request.path}: {exc}") from exc
        if response.status_code >= 400:
            raise error_from_response(response.status_code, response.content, response.headers)
        return response

    async def json(self, request: ops.Request) -> Any:
        response = await self.send(request)
        return response.json() if response.content else None

    async def me(self) -> MeOut:
        """Your own identity, team, key, wallets, limits and usage (GET /v1/me, with your own key)."""
        return MeOut.from_dict(await self.json(ops.me()))

    async def ask_for_credits(self, **fields: Any) -> ApprovalOut:
        """Ask your team's admins for credits (``amount``, ``reason``); one of them approves."""
        return ApprovalOut.from_dict(await self.json(ops.ask_for_credits(fields)))

    async def give_credits(self, **fields: Any) -> PostingOut:
        """Give credits to a teammate (``to_user_id``, ``amount``, ``memo``)."""
        return PostingOut.from_dict(await self.json(ops.give_credits(fields)))

    async def set_vacation(self, on: bool) -> VacationOut:
        """Go on vacation (lending part of your unused quota to the team pool) or come back."""
        return VacationOut.from_dict(await self.json(ops.set_vacation(on)))


class AsyncImages:
    """Image jobs: submit, get, cancel, stream events, wait with progress, generate."""

    def __init__(self, client: AsyncAlfred) -> None:
        self._client = client

    async def submit(self, prompt: str | None = None, **fields: Any) -> ImageJob:
        response = await self._client.send(ops.submit_image(prompt, fields, wait=0))
        job_id, job = ops.submitted_job_id(response.status_code, response.json())
        return job if job is not None else await self.get(job_id)

    async def get(self, job_id: str) -> ImageJob:
        return ImageJob.from_dict(await self._client.json(ops.Request("GET", ops.job_path(job_id))))

    async def cancel(self, job_id: str) -> ImageJob:
        return ImageJob.from_dict(await self._client.json(ops.Request("DELETE", ops.job_path(job_id))))

    async def events(self, job_id: str) -> AsyncIterator[JobEvent]:
        client = self._client
        url = client.base_url + ops.job_path(job_id) + "/events"
        headers = {**client._headers, "accept": "text/event-stream"}
        timeout = httpx.Timeout(None, connect=10)
        try:
            async with client._http.stream("GET", url, headers=headers, timeout=timeout) as response:
                if response.status_code >= 400:
                    raise error_from_response(response.status_code, await response.aread(), response.headers)
                decoder = SSEDecoder()
                async for line in response.aiter_lines():
                    frame = decoder.feed(line)
                    if frame is not None:
                        yield decode_event(frame, response.headers)
        except httpx.HTTPError as exc:
            raise APIConnectionError(f"GET {url}: {exc}") from exc

    async def wait(self, job_id: str, on_progress: AsyncProgressHook | None = None) -> ImageJob:
        async for event in self.events(job_id):
            if on_progress is not None:
                result = on_progress(event)
                if result is not None:
                    await result
            if event.terminal:
                return event.job
        return await self.get(job_id)

    async def generate(
        self, prompt: str | None = None, on_progress: AsyncProgressHook | None = None, **fields: Any
    ) -> ImageJob:
        job = await self.submit(prompt, **fields)
        if job.status not in ("succeeded", "failed", "cancelled"):
            job = await self.wait(job.id_, on_progress)
        if job.status != "succeeded":
            raise job_failure(job)
        return job


class AsyncAdmin:
    """The admin API (the master key or an admin user's key): teams, users, keys, wallets, usage, audit.

    Keyword fields are the admin API's request fields (the generated ``TeamIn``, ``UserIn``, ``KeyIn``,
    ``TopupIn``, ``TransferIn``); answers are the generated ``*Out`` types.
    """

    def __init__(self, client: AsyncAlfred) -> None:
        self._json = client.json

    async def create_team(self, **fields: Any) -> TeamOut:
        return TeamOut.from_dict(await self._json(ops.create_team(fields)))

    async def list_teams(self, **params: Any) -> list[TeamOut]:
        return [TeamOut.from_dict(t) for t in await self._json(ops.list_teams(params))]

    async def create_user(self, **fields: Any) -> UserOut:
        return UserOut.from_dict(await self._json(ops.create_user(fields)))

    async def list_users(self, **params: Any) -> list[UserOut]:
        return [UserOut.from_dict(u) for u in await self._json(ops.list_users(params))]

    async def create_key(self, **fields: Any) -> CreatedKeyOut:
        """Create an API key; ``key`` holds the key itself, shown this once."""
        return CreatedKeyOut.from_dict(await self._json(ops.create_key(fields)))

    async def list_keys(self, **params: Any) -> list[KeyOut]:
        return [KeyOut.from_dict(k) for k in await self._json(ops.list_keys(params))]

    async def revoke_key(self, key_id: int) -> KeyOut:
        """Revoke a key: its next call fails with 401 on every gateway process within a second."""
        return KeyOut.from_dict(await self._json(ops.revoke_key(key_id)))

    async def get_wallet(self, wallet_id: int) -> WalletOut:
        return WalletOut.from_dict(await self._json(ops.get_wallet(wallet_id)))

    async def topup(self, wallet_id: int, **fields: Any) -> PostingOut:
        return PostingOut.from_dict(await self._json(ops.topup(wallet_id, fields)))

    async def transfer(self, **fields: Any) -> PostingOut:
        return PostingOut.from_dict(await self._json(ops.transfer(fields)))

    async def list_transactions(self, **params: Any) -> list[TransactionOut]:
        return [TransactionOut.from_dict(t) for t in await self._json(ops.list_transactions(params))]

    async def usage(self, **params: Any) -> list[UsageOut]:
        """Usage grouped as asked (by user, team, model, provider or day)."""
        return [UsageOut.from_dict(u) for u in await self._json(ops.usage(params))]

    async def audit(self, **params: Any) -> list[AuditOut]:
        return [AuditOut.from_dict(a) for a in await self._json(ops.audit(params))]

    async def verify_audit(self) -> VerdictOut:
        """Walk the audit chain; a broken one names its first bad row (``seq``, ``problem``)."""
        return VerdictOut.from_dict(await self._json(ops.verify_audit()))

    async def ledger_check(self) -> CheckOut:
        """Balances against the sum of their entries; a healthy ledger has no drift."""
        return CheckOut.from_dict(await self._json(ops.ledger_check()))
