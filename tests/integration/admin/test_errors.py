"""Every failure is an OpenAI-format error: unknown paths, wrong methods, bad keys, bad bodies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from alfred.api.admin import AdminDeps, build_admin_app
from alfred.api.middleware.request_id import RequestIDMiddleware
from alfred.pipeline.call import Identity
from tests.integration.admin.harness import BASE_URL, Harness, assert_openai_error

PINNED = Path(__file__).resolve().parents[3] / "sdk/openapi/admin.json"


def operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (method, path) of the document, path parameters filled with 1."""
    found = []
    for path, item in document["paths"].items():
        concrete = path.replace("{deployment}", "chat/first/model")
        for name in ("team_id", "user_id", "key_id", "wallet_id", "approval_id"):
            concrete = concrete.replace("{" + name + "}", "1")
        found += [(method.upper(), concrete) for method in item]
    return found


async def test_the_document_is_public_and_keeps_the_pinned_schemas(harness: Harness) -> None:
    async with harness.client(None) as anonymous:
        served = await anonymous.get("/admin/openapi.json")
        assert served.status_code == 200
        assert (await anonymous.get("/admin/docs")).status_code == 200
    document = served.json()
    pinned = json.loads(PINNED.read_text())
    assert document["components"]["schemas"] == pinned["components"]["schemas"]
    for path, item in pinned["paths"].items():
        for method, operation in item.items():
            ours = document["paths"][path][method]
            assert ours["operationId"] == operation["operationId"]
            error = ours["responses"]["422"]["content"]["application/json"]["schema"]
            assert error["required"] == ["error"], (method, path)


async def test_every_operation_needs_a_key(harness: Harness) -> None:
    document = harness.app.openapi()
    async with (
        harness.client(None) as anonymous,
        harness.client("sk-alfred-not-a-real-key-at-all") as stranger,
    ):
        for method, path in operations(document):
            for client in (anonymous, stranger):
                response = await client.request(method, path, json={})
                assert_openai_error(response, 401, "invalid_api_key")


async def test_unknown_paths_and_methods(master: httpx.AsyncClient) -> None:
    error = assert_openai_error(await master.get("/v2/nothing"), 404, "not_found")
    assert error["message"] == "no route for GET /v2/nothing; the API lives under /v1"
    assert_openai_error(await master.get("/admin/nothing"), 404, "not_found")
    response = await master.put("/admin/teams", json={})
    assert_openai_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["allow"]


async def test_bodies_that_are_not_json_or_not_valid(master: httpx.AsyncClient) -> None:
    error = assert_openai_error(
        await master.post("/admin/teams", content=b"{not json", headers={"content-type": "application/json"}),
        422,
        "unprocessable_entity",
    )
    assert error["type"] == "invalid_request_error"
    assert_openai_error(await master.post("/admin/teams", json=[1, 2]), 422)
    error = assert_openai_error(await master.post("/admin/teams", json={}), 422)
    assert error["param"] == "name" and "name" in error["message"]
    error = assert_openai_error(
        await master.post("/admin/keys", json={"user_id": 1, "allowed_models": ["a", 5]}), 422
    )
    assert error["param"] == "allowed_models.1"
    assert_openai_error(await master.get("/admin/audit?event_type=a%00b"), 400)
    # Only what the document states: no "1.0" for an integer, no number for a date-time, no true for 1.
    for query in ("team_id=1.0", "team_id=%2B1", "team_id=1e3", "team_id=true"):
        assert_openai_error(await master.get(f"/admin/users?{query}"), 422)
    assert_openai_error(await master.get("/admin/audit?limit=5.0"), 422)
    assert_openai_error(await master.get("/admin/usage?since=-0.5"), 422)
    assert_openai_error(await master.get("/admin/usage?since=2026-01-01"), 422)
    assert (await master.get("/admin/usage?since=2026-01-01T00:00:00%2B02:00")).status_code == 200
    assert_openai_error(await master.get("/admin/teams/1.0"), 422)
    wrong = {"from_wallet": True, "to_wallet": 1, "amount": 1}
    assert (
        assert_openai_error(await master.post("/admin/wallets/transfer", json=wrong), 422)["param"]
        == "from_wallet"
    )
    assert_openai_error(await master.post("/admin/keys", json={"user_id": "1"}), 422)
    lone_surrogate = b'{"name": "\\ud800"}'  # valid JSON, yet no database can store it
    headers = {"content-type": "application/json"}
    error = assert_openai_error(
        await master.post("/admin/teams", content=lone_surrogate, headers=headers), 422
    )
    assert error["param"] == "name"


async def test_errors_carry_the_request_id_behind_the_gateway_middleware(harness: Harness) -> None:
    wrapped = RequestIDMiddleware(harness.app)
    transport = httpx.ASGITransport(app=wrapped)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        response = await client.get("/admin/teams", headers={"x-request-id": "req-123"})
    error = assert_openai_error(response, 401)
    assert error["request_id"] == "req-123" == response.headers["x-request-id"]


async def test_anonymous_identities_are_refused(harness: Harness) -> None:
    async def anonymous(headers: Mapping[str, str]) -> Identity:
        return Identity()  # what the auth stage answers when anonymous calls are allowed

    deps = AdminDeps(ledger=harness.ledger, authenticate=anonymous, on_key_revoked=lambda _: None)
    transport = httpx.ASGITransport(app=build_admin_app(deps))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        assert_openai_error(await client.get("/v1/me"), 401)
        assert_openai_error(await client.get("/admin/teams"), 401)


async def test_an_app_without_deps_serves_only_its_document() -> None:
    transport = httpx.ASGITransport(app=build_admin_app(None))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        assert (await client.get("/admin/openapi.json")).status_code == 200
        assert_openai_error(await client.get("/admin/teams"), 503, "not_configured")
