"""API keys through the admin API: created once in clear, never shown again, limits kept, revoked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from alfred.ledger import KeyHasher
from tests.integration.admin.harness import KEY_SECRET, Harness, assert_openai_error, make_tenant


async def test_the_key_is_shown_once_and_never_its_hash(harness: Harness, master: httpx.AsyncClient) -> None:
    user = (
        await master.post("/admin/users", json={"email": "a@x.io", "name": "A", "personal_quota": 1})
    ).json()
    created = await master.post("/admin/keys", json={"user_id": user["id"]})
    assert created.status_code == 201, created.text
    body = created.json()
    key = body["key"]
    assert key.startswith(body["prefix"]) and body["name"] == "default" and body["is_active"] is True
    digest = KeyHasher(KEY_SECRET).digest(key)
    for path in ("/admin/keys", f"/admin/keys?user_id={user['id']}", "/admin/audit", "/admin/transactions"):
        answer = (await master.get(path)).text
        assert key not in answer and digest not in answer, path
    listed = (await master.get("/admin/keys")).json()
    assert [k["id"] for k in listed] == [body["id"]] and "key" not in listed[0]
    async with harness.client(key) as own:
        assert (await own.get("/v1/me")).json()["user"]["id"] == user["id"]


async def test_limits_are_kept(master: httpx.AsyncClient) -> None:
    user = (await master.post("/admin/users", json={"email": "a@x.io", "name": "A"})).json()
    expires = datetime.now(UTC) + timedelta(days=3)
    body = {"user_id": user["id"], "name": "ci", "rpm_limit": 60, "tpm_limit": 10_000, "priority": True,
            "allowed_models": ["gpt-4o-mini", "demo-chat", "demo-chat"], "budget": "2.5",
            "expires_at": expires.isoformat()}  # fmt: skip
    created = (await master.post("/admin/keys", json=body)).json()
    assert created["rpm_limit"] == 60 and created["tpm_limit"] == 10_000 and created["priority"] is True
    assert created["allowed_models"] == ["demo-chat", "gpt-4o-mini"] and created["budget"] == "2.5"
    assert datetime.fromisoformat(created["expires_at"]) == expires.replace(microsecond=expires.microsecond)
    assert created["spent"] == "0"
    for loose in ("2999-01-01T00:00:00", "2999-01-01", 32503680000, True):  # no zone, no time, a number
        answer = await master.post("/admin/keys", json={"user_id": user["id"], "expires_at": loose})
        assert assert_openai_error(answer, 422)["param"] == "expires_at"


async def test_key_errors(master: httpx.AsyncClient) -> None:
    user = (await master.post("/admin/users", json={"email": "a@x.io", "name": "A"})).json()
    uid = user["id"]
    assert_openai_error(await master.post("/admin/keys", json={"user_id": 999}), 404, "not_found")
    for field, value in (("rpm_limit", 0), ("tpm_limit", -5), ("budget", -1), ("name", "")):
        error = assert_openai_error(
            await master.post("/admin/keys", json={"user_id": uid, field: value}), 422
        )
        assert error["param"] == field
    error = assert_openai_error(
        await master.post("/admin/keys", json={"user_id": uid, "rpm_limit": 2**40}), 400
    )
    assert error["param"] == "rpm_limit"
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    error = assert_openai_error(
        await master.post("/admin/keys", json={"user_id": uid, "expires_at": past}), 400
    )
    assert error["param"] == "expires_at"
    assert_openai_error(await master.post("/admin/keys", json={"name": "no user"}), 422)


async def test_revocation_is_audited_reported_and_final(harness: Harness, master: httpx.AsyncClient) -> None:
    user = (await master.post("/admin/users", json={"email": "a@x.io", "name": "A"})).json()
    created = (await master.post("/admin/keys", json={"user_id": user["id"]})).json()
    async with harness.client(created["key"]) as own:
        assert (await own.get("/v1/me")).status_code == 200
        revoked = await master.delete(f"/admin/keys/{created['id']}")
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["is_active"] is False and revoked.json()["revoked_at"] is not None
        assert harness.revoked == [created["id"]]
        assert_openai_error(await own.get("/v1/me"), 401, "invalid_api_key")
    again = await master.delete(f"/admin/keys/{created['id']}")
    assert again.status_code == 200 and again.json()["revoked_at"] == revoked.json()["revoked_at"]
    events = [row["event_type"] for row in (await master.get("/admin/audit?event_type=key.revoked")).json()]
    assert events == ["key.revoked"]  # revoking twice is audited once
    assert_openai_error(await master.delete("/admin/keys/404"), 404)


async def test_a_team_admin_manages_their_own_teams_keys(harness: Harness, master: httpx.AsyncClient) -> None:
    red = await make_tenant(master, "red")
    blue = await make_tenant(master, "blue")
    async with harness.client(red.admin_key) as admin:
        mine = {k["user_id"] for k in (await admin.get("/admin/keys")).json()}
        assert mine == {red.admin["id"], red.alice["id"], red.bob["id"]}
        made = await admin.post("/admin/keys", json={"user_id": red.alice["id"], "rpm_limit": 5})
        assert made.status_code == 201
        assert_openai_error(await admin.post("/admin/keys", json={"user_id": blue.alice["id"]}), 404)
        blue_keys = (await master.get(f"/admin/keys?user_id={blue.alice['id']}")).json()
        assert_openai_error(await admin.delete(f"/admin/keys/{blue_keys[0]['id']}"), 404)
        assert (await admin.delete(f"/admin/keys/{made.json()['id']}")).status_code == 200
    assert harness.revoked == [made.json()["id"]]
