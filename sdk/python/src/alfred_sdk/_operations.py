"""The requests the SDK makes, built once for both the sync and the async client.

Admin bodies and query parameters pass through as given (the admin API validates them and names the
field at fault); their fields are the generated ``*In`` types' (``TeamIn``, ``UserIn``, ``KeyIn``...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from alfred_sdk._generated import ImageJob, ImagesResponse


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request: method, path below the base URL, JSON body, query parameters."""

    method: str
    path: str
    json: Any = None
    params: Mapping[str, Any] | None = None


def _segment(value: str | int) -> str:
    return quote(str(value), safe="")


def _query(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def submit_image(prompt: str | None, fields: Mapping[str, Any], wait: float | None) -> Request:
    body: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
    if prompt is not None:
        body["prompt"] = prompt
    if wait is not None:
        body["wait"] = wait
    return Request("POST", "/v1/images/generations", json=body)


def job_path(job_id: str) -> str:
    return f"/v1/images/jobs/{_segment(job_id)}"


def submitted_job_id(status: int, body: Mapping[str, Any]) -> tuple[str, ImageJob | None]:
    """A 202 carries the job itself; a 200 (done within ``wait``, e.g. a cache hit) names it."""
    if status == 202:
        job = ImageJob.from_dict(body)
        return job.id_, job
    return ImagesResponse.from_dict(body).alfred.job_id, None


# --- admin and self-service ---------------------------------------------------------------------------
def me() -> Request:
    return Request("GET", "/v1/me")


def create_team(fields: Mapping[str, Any]) -> Request:
    return Request("POST", "/admin/teams", json=dict(fields))


def list_teams(params: Mapping[str, Any]) -> Request:
    return Request("GET", "/admin/teams", params=_query(params))


def create_user(fields: Mapping[str, Any]) -> Request:
    return Request("POST", "/admin/users", json=dict(fields))


def list_users(params: Mapping[str, Any]) -> Request:
    return Request("GET", "/admin/users", params=_query(params))


def create_key(fields: Mapping[str, Any]) -> Request:
    return Request("POST", "/admin/keys", json=dict(fields))


def revoke_key(key_id: str | int) -> Request:
    return Request("DELETE", f"/admin/keys/{_segment(key_id)}")


def get_wallet(wallet_id: str | int) -> Request:
    return Request("GET", f"/admin/wallets/{_segment(wallet_id)}")


def topup(wallet_id: str | int, fields: Mapping[str, Any]) -> Request:
    return Request("POST", f"/admin/wallets/{_segment(wallet_id)}/topup", json=dict(fields))


def transfer(fields: Mapping[str, Any]) -> Request:
    return Request("POST", "/admin/wallets/transfer", json=dict(fields))


def list_transactions(params: Mapping[str, Any]) -> Request:
    return Request("GET", "/admin/transactions", params=_query(params))


def usage(params: Mapping[str, Any]) -> Request:
    return Request("GET", "/admin/usage", params=_query(params))


def audit(params: Mapping[str, Any]) -> Request:
    return Request("GET", "/admin/audit", params=_query(params))


def verify_audit() -> Request:
    return Request("GET", "/admin/audit/verify")


def list_keys(params: Mapping[str, Any]) -> Request:
    return Request("GET", "/admin/keys", params=_query(params))


def ledger_check() -> Request:
    return Request("GET", "/admin/ledger/check")


def ask_for_credits(fields: Mapping[str, Any]) -> Request:
    return Request("POST", "/v1/me/approvals", json=dict(fields))


def give_credits(fields: Mapping[str, Any]) -> Request:
    return Request("POST", "/v1/me/transfers", json=dict(fields))


def set_vacation(on: bool) -> Request:
    return Request("POST", "/v1/me/vacation", json={"on": on})
