"""Teams and users through the admin API: create, list, read, vacation; and what each role may do."""

from __future__ import annotations

import httpx

from tests.integration.admin.harness import Harness, assert_openai_error, make_tenant


async def test_create_list_and_read_teams(master: httpx.AsyncClient) -> None:
    created = await master.post(
        "/admin/teams",
        json={
            "name": "red",
            "common_pool": "12.5",
            "vacation_share_pct": 20,
            "allow_pool": True,
            "soft_limit": 1,
        },
    )
    assert created.status_code == 201, created.text
    team = created.json()
    assert team["common_pool"] == "12.5" and team["used_pool"] == "0"
    assert team["vacation_share_pct"] == 20 and team["allow_pool"] is True and team["wallet_id"] is not None
    assert (await master.get(f"/admin/teams/{team['id']}")).json() == team
    assert [t["name"] for t in (await master.get("/admin/teams")).json()] == ["red"]
    wallet = (await master.get(f"/admin/wallets/{team['wallet_id']}")).json()
    assert wallet["balance"] == "12.5" and wallet["soft_limit"] == "1" and wallet["owner_type"] == "team"


async def test_team_errors(master: httpx.AsyncClient) -> None:
    assert (await master.post("/admin/teams", json={"name": "red"})).status_code == 201
    assert_openai_error(await master.post("/admin/teams", json={"name": "red"}), 400, "already_exists")
    error = assert_openai_error(await master.post("/admin/teams", json={"name": "x", "common_pool": -1}), 422)
    assert error["param"] == "common_pool"
    error = assert_openai_error(await master.post("/admin/teams", json={"name": "x", "surprise": 1}), 422)
    assert error["param"] == "surprise"
    error = assert_openai_error(
        await master.post("/admin/teams", json={"name": "x", "common_pool": "0.0000001"}), 400
    )
    assert error["param"] == "common_pool"  # finer than one micro-credit
    assert_openai_error(await master.post("/admin/teams", json={"name": "x", "common_pool": "1e40"}), 400)
    assert_openai_error(await master.post("/admin/teams", json={"name": "nul\x00"}), 422)
    assert_openai_error(await master.get("/admin/teams/999"), 404, "not_found")
    assert_openai_error(await master.get(f"/admin/teams/{2**70}"), 404, "not_found")


async def test_create_list_and_read_users(master: httpx.AsyncClient) -> None:
    team = (await master.post("/admin/teams", json={"name": "red"})).json()
    body = {"email": "Ann@Red.io", "name": "Ann", "team_id": team["id"], "team_role": "admin", "personal_quota": 3,
            "priority": True, "hard_limit": "-1", "soft_limit": "0.5"}  # fmt: skip
    created = await master.post("/admin/users", json=body)
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["email"] == "ann@red.io" and user["team_role"] == "admin" and user["priority"] is True
    assert user["personal_quota"] == "3" and user["status"] == "active" and user["is_admin"] is False
    assert (await master.get(f"/admin/users/{user['id']}")).json() == user
    loner = (await master.post("/admin/users", json={"email": "lone@x.io", "name": "Lone"})).json()
    assert [u["id"] for u in (await master.get("/admin/users")).json()] == [user["id"], loner["id"]]
    assert [u["id"] for u in (await master.get(f"/admin/users?team_id={team['id']}")).json()] == [user["id"]]
    assert (await master.get(f"/admin/users?team_id={2**40}")).json() == []
    wallet = (await master.get(f"/admin/wallets/{user['wallet_id']}")).json()
    assert (wallet["balance"], wallet["hard_limit"], wallet["spendable"]) == ("3", "-1", "4")


async def test_user_errors(master: httpx.AsyncClient) -> None:
    assert_openai_error(
        await master.post("/admin/users", json={"email": "a@b.io", "name": "A", "team_id": 77}), 404
    )
    assert_openai_error(await master.post("/admin/users", json={"email": "nobody", "name": "A"}), 400)
    assert (await master.post("/admin/users", json={"email": "a@b.io", "name": "A"})).status_code == 201
    assert_openai_error(
        await master.post("/admin/users", json={"email": "A@b.io", "name": "A"}), 400, "already_exists"
    )
    error = assert_openai_error(
        await master.post("/admin/users", json={"email": "c@b.io", "name": "C", "team_role": "boss"}), 422
    )
    assert error["param"] == "team_role"
    assert_openai_error(await master.get("/admin/users/404"), 404)
    assert_openai_error(await master.get("/admin/users/not-a-number"), 422)


async def test_vacation_lends_a_share_and_comes_back(master: httpx.AsyncClient) -> None:
    tenant = await make_tenant(master, "red", quota="10")
    alice = tenant.alice["id"]
    on = await master.post(f"/admin/users/{alice}/vacation", json={"on": True})
    assert on.status_code == 200, on.text
    assert on.json() == {"user_id": alice, "on": True, "share": "1", "share_micros": 1_000_000}  # 10% of 10
    assert (await master.get(f"/admin/users/{alice}")).json()["status"] == "vacation"
    off = (await master.post(f"/admin/users/{alice}/vacation", json={"on": False})).json()
    assert off["on"] is False and off["share_micros"] == 0
    assert (await master.get(f"/admin/users/{alice}")).json()["status"] == "active"
    events = [row["event_type"] for row in (await master.get("/admin/audit?limit=2")).json()]
    assert events == ["vacation.off", "vacation.on"]
    loner = (await master.post("/admin/users", json={"email": "lone@x.io", "name": "Lone"})).json()
    assert_openai_error(
        await master.post(f"/admin/users/{loner['id']}/vacation", json={"on": True}), 400, "no_team"
    )


async def test_a_team_admin_manages_their_own_team_only(harness: Harness, master: httpx.AsyncClient) -> None:
    red = await make_tenant(master, "red")
    async with harness.client(red.admin_key) as admin:
        assert [t["id"] for t in (await admin.get("/admin/teams")).json()] == [red.team["id"]]
        assert_openai_error(await admin.post("/admin/teams", json={"name": "mine"}), 403, "permission_denied")
        # A new user lands in the admin's team when none is named.
        made = await admin.post("/admin/users", json={"email": "new@red.io", "name": "New"})
        assert made.status_code == 201 and made.json()["team_id"] == red.team["id"]
        error = assert_openai_error(
            await admin.post("/admin/users", json={"email": "boss@red.io", "name": "B", "is_admin": True}),
            403,
        )
        assert error["param"] == "is_admin"
        listed = {u["email"] for u in (await admin.get("/admin/users")).json()}
        assert listed == {"admin@red.io", "alice@red.io", "bob@red.io", "new@red.io"}
        vacation = await admin.post(f"/admin/users/{red.bob['id']}/vacation", json={"on": True})
        assert vacation.status_code == 200 and vacation.json()["on"] is True


async def test_roles_follow_the_admin_flag_the_team_and_the_team_role(
    harness: Harness, master: httpx.AsyncClient
) -> None:
    red = await make_tenant(master, "red")
    blue = await make_tenant(master, "blue")
    boss = (
        await master.post("/admin/users", json={"email": "boss@x.io", "name": "Boss", "is_admin": True})
    ).json()
    lead = (
        await master.post(
            "/admin/users",
            json={"email": "lead@red.io", "name": "Lead", "team_id": red.team["id"], "team_role": "admin"},
        )
    ).json()
    keys = {}
    for who in (boss, lead):
        keys[who["id"]] = (await master.post("/admin/keys", json={"user_id": who["id"]})).json()["key"]
    # An admin user without a team is a global admin.
    async with harness.client(keys[boss["id"]]) as global_admin:
        assert (await global_admin.post("/admin/teams", json={"name": "green"})).status_code == 201
        assert {t["name"] for t in (await global_admin.get("/admin/teams")).json()} == {
            "red",
            "blue",
            "green",
        }
        assert (await global_admin.get("/v1/me")).json()["is_admin"] is True
    # A member whose team role is admin manages that team, and only it.
    async with harness.client(keys[lead["id"]]) as team_lead:
        assert (await team_lead.get(f"/admin/users/{red.alice['id']}")).status_code == 200
        assert_openai_error(await team_lead.get(f"/admin/users/{blue.alice['id']}"), 404)
        me = (await team_lead.get("/v1/me")).json()
        assert (me["is_admin"], me["team_role"]) == (True, "admin")
    async with harness.client(red.alice_key) as member:
        assert (await member.get("/v1/me")).json()["is_admin"] is False
