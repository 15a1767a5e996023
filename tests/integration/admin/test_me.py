"""Self-service with a user's own key: /v1/me, asking for credits, giving credits, vacation."""

from __future__ import annotations

import httpx

from tests.integration.admin.harness import Harness, assert_openai_error, make_tenant
from tests.integration.admin.usage import call


async def test_me_shows_identity_wallets_limits_and_usage(
    harness: Harness, master: httpx.AsyncClient
) -> None:
    red = await make_tenant(master, "red", quota="10")
    key = (await master.post("/admin/keys", json={"user_id": red.alice["id"], "rpm_limit": 9, "budget": "3",
                                                   "allowed_models": ["m1"]})).json()  # fmt: skip
    await call(harness.ledger, red.alice["id"], "r1", 400_000, key_id=key["id"], model="m1")
    async with harness.client(key["key"]) as alice:
        me = (await alice.get("/v1/me")).json()
    assert (me["method"], me["is_admin"], me["team_role"]) == ("key", False, "member")
    assert me["user"]["email"] == "alice@red.io" and me["team"]["id"] == red.team["id"]
    assert me["key"]["id"] == key["id"] and "key" not in me["key"]
    assert [(w["owner_type"], w["balance"]) for w in me["wallets"]] == [("user", "9.6"), ("team", "100")]
    limits = me["limits"]
    assert (limits["rpm_limit"], limits["allowed_models"], limits["key_budget"], limits["key_spent"]) == (
        9, ["m1"], "3", "0.4",
    )  # fmt: skip
    assert limits["spendable"] == "9.6"
    assert (me["usage"]["requests"], me["usage"]["cost"], me["usage"]["prompt_tokens"]) == (1, "0.4", 10)


async def test_me_for_the_master_key_and_for_admins(harness: Harness, master: httpx.AsyncClient) -> None:
    red = await make_tenant(master, "red")
    me = (await master.get("/v1/me")).json()
    assert (me["method"], me["is_admin"], me["user"], me["wallets"]) == ("master", True, None, [])
    async with harness.client(red.admin_key) as admin:
        mine = (await admin.get("/v1/me")).json()
    assert mine["is_admin"] is True and mine["user"]["id"] == red.admin["id"]
    for path, body in (("/v1/me/vacation", {"on": True}), ("/v1/me/approvals", {"amount": 1})):
        assert_openai_error(await master.post(path, json=body), 403, "permission_denied")


async def test_ask_approve_and_reject(harness: Harness, master: httpx.AsyncClient) -> None:
    red = await make_tenant(master, "red", pool="100", quota="10")
    async with harness.client(red.alice_key) as alice, harness.client(red.admin_key) as admin:
        asked = await alice.post("/v1/me/approvals", json={"amount": "5", "reason": "a big batch"})
        assert asked.status_code == 201, asked.text
        request = asked.json()
        assert (request["state"], request["amount"], request["team_id"]) == ("pending", "5", red.team["id"])
        assert [a["id"] for a in (await admin.get("/admin/approvals")).json()] == [request["id"]]
        assert_openai_error(await alice.get("/admin/approvals"), 403)
        approved = await admin.post(f"/admin/approvals/{request['id']}/approve")
        assert approved.status_code == 200, approved.text
        assert approved.json()["state"] == "approved" and approved.json()["decided_by"] == red.admin["id"]
        assert approved.json()["transaction_id"] is not None
        wallets = {w["owner_type"]: w["balance"] for w in (await alice.get("/v1/me")).json()["wallets"]}
        assert wallets == {"user": "15", "team": "95"}
        assert_openai_error(
            await admin.post(f"/admin/approvals/{request['id']}/reject"), 400, "already_decided"
        )
        second = (await alice.post("/v1/me/approvals", json={"amount": 1})).json()
        rejected = (await admin.post(f"/admin/approvals/{second['id']}/reject")).json()
        assert rejected["state"] == "rejected" and rejected["transaction_id"] is None
        assert (await admin.get("/admin/approvals")).json() == []
        assert_openai_error(await admin.post("/admin/approvals/999/approve"), 404)
        for amount in (0, -3, "-1"):
            error = assert_openai_error(await alice.post("/v1/me/approvals", json={"amount": amount}), 422)
            assert error["param"] == "amount"
    events = [r["event_type"] for r in (await master.get("/admin/audit?limit=4")).json()]
    assert events == ["approval.rejected", "approval.requested", "approval.approved", "approval.requested"]


async def test_no_self_approval_and_the_master_key_decides_nothing(
    harness: Harness, master: httpx.AsyncClient
) -> None:
    red = await make_tenant(master, "red")
    async with harness.client(red.admin_key) as admin:
        own = (await admin.post("/v1/me/approvals", json={"amount": 1})).json()
        assert_openai_error(await admin.post(f"/admin/approvals/{own['id']}/approve"), 403, "self_approval")
    assert_openai_error(await master.post(f"/admin/approvals/{own['id']}/approve"), 403, "permission_denied")
    assert (await master.get("/admin/approvals")).json()[0]["state"] == "pending"
    loner = (
        await master.post("/admin/users", json={"email": "lone@x.io", "name": "L", "personal_quota": 1})
    ).json()
    key = (await master.post("/admin/keys", json={"user_id": loner["id"]})).json()["key"]
    async with harness.client(key) as lone:
        assert_openai_error(await lone.post("/v1/me/approvals", json={"amount": 1}), 400, "no_team")


async def test_peer_transfers(harness: Harness, master: httpx.AsyncClient) -> None:
    red = await make_tenant(master, "red", quota="10")
    blue = await make_tenant(master, "blue", quota="10")
    async with harness.client(red.alice_key) as alice:
        given = await alice.post(
            "/v1/me/transfers", json={"to_user_id": red.bob["id"], "amount": "2.5", "memo": "thanks"}
        )
        assert given.status_code == 200, given.text
        assert given.json()["balances"] == {
            str(red.alice["wallet_id"]): "7.5",
            str(red.bob["wallet_id"]): "12.5",
        }
        assert_openai_error(
            await alice.post("/v1/me/transfers", json={"to_user_id": red.alice["id"], "amount": 1}),
            400,
            "self_transfer",
        )
        for amount in (0, "-1", -1):
            error = assert_openai_error(
                await alice.post("/v1/me/transfers", json={"to_user_id": red.bob["id"], "amount": amount}),
                422,
            )
            assert error["param"] == "amount"
        assert_openai_error(
            await alice.post("/v1/me/transfers", json={"to_user_id": red.bob["id"], "amount": 8}), 402
        )
        # Another team's user and a user that does not exist get the same answer.
        other = await alice.post("/v1/me/transfers", json={"to_user_id": blue.bob["id"], "amount": 1})
        missing = await alice.post("/v1/me/transfers", json={"to_user_id": 999, "amount": 1})
        assert_openai_error(other, 403, "permission_denied")
        assert other.json() == missing.json()
    assert (await master.get(f"/admin/wallets/{blue.bob['wallet_id']}")).json()["balance"] == "10"
    audit = (await master.get("/admin/audit?event_type=transfer.peer")).json()
    assert [(r["user_id"], r["details"]["to_user"], r["details"]["amount"]) for r in audit] == [
        (red.alice["id"], red.bob["id"], 2_500_000)
    ]
    assert (await master.get("/admin/ledger/check")).json()["drift"] == 0


async def test_vacation_on_and_off(harness: Harness, master: httpx.AsyncClient) -> None:
    red = await make_tenant(master, "red", quota="20")
    async with harness.client(red.bob_key) as bob:
        on = (await bob.post("/v1/me/vacation", json={"on": True})).json()
        assert on == {"user_id": red.bob["id"], "on": True, "share": "2", "share_micros": 2_000_000}
        assert (await bob.get("/v1/me")).json()["user"]["status"] == "vacation"
        off = (await bob.post("/v1/me/vacation", json={"on": False})).json()
        assert off["on"] is False
        assert_openai_error(await bob.post("/v1/me/vacation", json={"on": "maybe"}), 422)
