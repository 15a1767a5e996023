"""The synchronous client: ``Alfred(api_key=..., base_url=...)``."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from alfred_sdk import _operations as ops
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
from alfred_sdk._version import __version__

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
ProgressHook = Callable[[JobEvent], None]


def client_settings(api_key: str | None, base_url: str | None) -> tuple[str, dict[str, str]]:
    """The base URL and headers, from the arguments or ALFRED_BASE_URL / ALFRED_API_KEY."""
    key = api_key if api_key is not None else os.environ.get("ALFRED_API_KEY", "")
    url = (base_url or os.environ.get("ALFRED_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    headers = {"user-agent": f"alfred-sdk-python/{__version__}", "accept": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    return url, headers


class Alfred:
    """A client for one gateway; ``images`` and ``admin`` group the calls. Close it, or use ``with``."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 60.0,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.base_url, headers = client_settings(api_key, base_url)
        self._http = http_client or httpx.Client(timeout=timeout)
        self._headers = headers
        self.images = Images(self)
        self.admin = Admin(self)

    def __enter__(self) -> Alfred:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def send(self, request: ops.Request) -> httpx.Response:
        """Send one request; an error status raises its typed error."""
        try:
            response = self._http.request(
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

    def json(self, request: ops.Request) -> Any:
        response = self.send(request)
        return response.json() if response.content else None

    def me(self) -> MeOut:
        """Your own identity, team, key, wallets, limits and usage (GET /v1/me, with your own key)."""
        return MeOut.from_dict(self.json(ops.me()))

    def ask_for_credits(self, **fields: Any) -> ApprovalOut:
        """Ask your team's admins for credits (``amount``, ``reason``); one of them approves."""
        return ApprovalOut.from_dict(self.json(ops.ask_for_credits(fields)))

    def give_credits(self, **fields: Any) -> PostingOut:
        """Give credits to a teammate (``to_user_id``, ``amount``, ``memo``)."""
        return PostingOut.from_dict(self.json(ops.give_credits(fields)))

    def set_vacation(self, on: bool) -> VacationOut:
        """Go on vacation (lending part of your unused quota to the team pool) or come back."""
        return VacationOut.from_dict(self.json(ops.set_vacation(on)))


class Images:
    """Image jobs: submit, get, cancel, stream events, wait with progress, generate."""

    def __init__(self, client: Alfred) -> None:
        self._client = client

    def submit(self, prompt: str | None = None, **fields: Any) -> ImageJob:
        """Queue a generation (``wait=0``) and return its job. ``fields``: model, size, n, seed, preset…"""
        response = self._client.send(ops.submit_image(prompt, fields, wait=0))
        job_id, job = ops.submitted_job_id(response.status_code, response.json())
        return job if job is not None else self.get(job_id)

    def get(self, job_id: str) -> ImageJob:
        return ImageJob.from_dict(self._client.json(ops.Request("GET", ops.job_path(job_id))))

    def cancel(self, job_id: str) -> ImageJob:
        """Cancel a live job; a finished one comes back as it is."""
        return ImageJob.from_dict(self._client.json(ops.Request("DELETE", ops.job_path(job_id))))

    def events(self, job_id: str) -> Iterator[JobEvent]:
        """The job's events until it ends (the stream replays what already happened first)."""
        client = self._client
        url = client.base_url + ops.job_path(job_id) + "/events"
        headers = {**client._headers, "accept": "text/event-stream"}
        try:
            with client._http.stream(
                "GET", url, headers=headers, timeout=httpx.Timeout(None, connect=10)
            ) as response:
                if response.status_code >= 400:
                    raise error_from_response(response.status_code, response.read(), response.headers)
                decoder = SSEDecoder()
                for line in response.iter_lines():
                    frame = decoder.feed(line)
                    if frame is not None:
                        yield decode_event(frame, response.headers)
        except httpx.HTTPError as exc:
            raise APIConnectionError(f"GET {url}: {exc}") from exc

    def wait(self, job_id: str, on_progress: ProgressHook | None = None) -> ImageJob:
        """Follow the events until the job ends and return it, calling ``on_progress`` at each event."""
        for event in self.events(job_id):
            if on_progress is not None:
                on_progress(event)
            if event.terminal:
                return event.job
        return self.get(job_id)  # the stream closed early: the job itself says where it stands

    def generate(
        self, prompt: str | None = None, on_progress: ProgressHook | None = None, **fields: Any
    ) -> ImageJob:
        """Submit and wait; a job that fails or is cancelled raises ``ImageJobFailedError``."""
        job = self.submit(prompt, **fields)
        if job.status not in ("succeeded", "failed", "cancelled"):
            job = self.wait(job.id_, on_progress)
        if job.status != "succeeded":
            raise job_failure(job)
        return job


class Admin:
    """The admin API (the master key or an admin user's key): teams, users, keys, wallets, usage, audit.

    Keyword fields are the admin API's request fields (the generated ``TeamIn``, ``UserIn``, ``KeyIn``,
    ``TopupIn``, ``TransferIn``); answers are the generated ``*Out`` types.
    """

    def __init__(self, client: Alfred) -> None:
        self._json = client.json

    def create_team(self, **fields: Any) -> TeamOut:
        return TeamOut.from_dict(self._json(ops.create_team(fields)))

    def list_teams(self, **params: Any) -> list[TeamOut]:
        return [TeamOut.from_dict(t) for t in self._json(ops.list_teams(params))]

    def create_user(self, **fields: Any) -> UserOut:
        return UserOut.from_dict(self._json(ops.create_user(fields)))

    def list_users(self, **params: Any) -> list[UserOut]:
        return [UserOut.from_dict(u) for u in self._json(ops.list_users(params))]

    def create_key(self, **fields: Any) -> CreatedKeyOut:
        """Create an API key; ``key`` holds the key itself, shown this once."""
        return CreatedKeyOut.from_dict(self._json(ops.create_key(fields)))

    def list_keys(self, **params: Any) -> list[KeyOut]:
        return [KeyOut.from_dict(k) for k in self._json(ops.list_keys(params))]

    def revoke_key(self, key_id: int) -> KeyOut:
        """Revoke a key: its next call fails with 401 on every gateway process within a second."""
        return KeyOut.from_dict(self._json(ops.revoke_key(key_id)))

    def get_wallet(self, wallet_id: int) -> WalletOut:
        return WalletOut.from_dict(self._json(ops.get_wallet(wallet_id)))

    def topup(self, wallet_id: int, **fields: Any) -> PostingOut:
        return PostingOut.from_dict(self._json(ops.topup(wallet_id, fields)))

    def transfer(self, **fields: Any) -> PostingOut:
        return PostingOut.from_dict(self._json(ops.transfer(fields)))

    def list_transactions(self, **params: Any) -> list[TransactionOut]:
        return [TransactionOut.from_dict(t) for t in self._json(ops.list_transactions(params))]

    def usage(self, **params: Any) -> list[UsageOut]:
        """Usage grouped as asked (by user, team, model, provider or day)."""
        return [UsageOut.from_dict(u) for u in self._json(ops.usage(params))]

    def audit(self, **params: Any) -> list[AuditOut]:
        return [AuditOut.from_dict(a) for a in self._json(ops.audit(params))]

    def verify_audit(self) -> VerdictOut:
        """Walk the audit chain; a broken one names its first bad row (``seq``, ``problem``)."""
        return VerdictOut.from_dict(self._json(ops.verify_audit()))

    def ledger_check(self) -> CheckOut:
        """Balances against the sum of their entries; a healthy ledger has no drift."""
        return CheckOut.from_dict(self._json(ops.ledger_check()))
