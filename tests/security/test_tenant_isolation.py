"""Tenant isolation on the admin and self-service APIs: two teams, each with an admin and members.

Neither team's admin can read or change the other's users, keys, wallets, transactions, usage, audit
rows or approval requests, by listing or by guessing ids (an id of the other team answers exactly as
an id that does not exist); a user's key gets 403 on every /admin operation; /v1/me shows the
caller's own data only. The global admin (the master key) sees both teams, so the checks can fail.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.admin.harness import Harness, Tenant, assert_openai_error, make_tenant, open_harness
from tests.integration.admin.test_errors import operations
from tests.integration.admin.usage import call


@dataclass
class World:
    harness: Harness
    red: Tenant
    blue: Tenant
    blue_key_id: int
    blue_approval: int


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    harness = await open_harness(tmp_path)
    try:
        async with harness.client() as master:
            red = await make_tenant(master, "red")
            blue = await make_tenant(master, "blue")
            for tenant, prefix in ((red, "red"), (blue, "blue")):
                await call(
                    harness.ledger, tenant.alice["id"], f"{prefix}-1", 100_000, model=f"{prefix}-model"
                )
                await master.post(f"/admin/users/{tenant.bob['id']}/vacation", json={"on": True})
            blue_key_id = (await master.get(f"/admin/keys?user_id={blue.alice['id']}")).json()[0]["id"]
        async with harness.client(blue.alice_key) as blue_alice:
            blue_approval = (await blue_alice.post("/v1/me/approvals", json={"amount": 1})).json()["id"]
        yield World(harness, red, blue, blue_key_id, blue_approval)
    finally:
        await harness.close()


def _ids(tenant: Tenant) -> tuple[set[int], set[int]]:
    users = {tenant.admin["id"], tenant.alice["id"], tenant.bob["id"]}
    wallets = {
        tenant.team["wallet_id"],
        tenant.admin["wallet_id"],
        tenant.alice["wallet_id"],
        tenant.bob["wallet_id"],
    }
    return users, wallets


async def test_a_users_key_gets_403_on_every_admin_operation(world: World) -> None:
    admin_ops = [(m, p) for m, p in operations(world.harness.app.openapi()) if p.startswith("/admin")]
    assert len(admin_ops) >= 25
    for key in (world.red.alice_key, world.blue.bob_key):
        async with world.harness.client(key) as user:
            for method, path in admin_ops:
                assert_openai_error(await user.request(method, path, json={}), 403, "permission_denied")


async def test_guessed_ids_of_the_other_team_answer_like_missing_ones(world: World) -> None:
    red_users, red_wallets = _ids(world.red)
    async with world.harness.client(world.red.admin_key) as admin:
        for kind, mine in (("users", red_users), ("wallets", red_wallets), ("teams", {world.red.team["id"]})):
            for guess in range(1, 12):
                response = await admin.get(f"/admin/{kind}/{guess}")
                if guess in mine:
                    assert response.status_code == 200, (kind, guess)
                else:
                    error = assert_openai_error(response, 404, "not_found")
                    assert error["message"] == f"{kind[:-1]} {guess} does not exist"
        for guess in range(1, 9):
            keys = await admin.get(f"/admin/keys?user_id={guess}")
            assert keys.status_code == (200 if guess in red_users else 404), guess


async def test_a_team_admin_cannot_reach_the_other_team(world: World) -> None:
    blue = world.blue
    async with world.harness.client(world.red.admin_key) as admin:
        refused = [
            ("GET", f"/admin/teams/{blue.team['id']}", None),
            ("GET", f"/admin/users?team_id={blue.team['id']}", None),
            ("GET", f"/admin/users/{blue.alice['id']}", None),
            ("POST", f"/admin/users/{blue.alice['id']}/vacation", {"on": True}),
            ("GET", f"/admin/wallets/{blue.team['wallet_id']}", None),
            ("PATCH", f"/admin/wallets/{blue.alice['wallet_id']}", {"status": "frozen"}),
            ("POST", "/admin/wallets/transfer",
             {"from_wallet": blue.team["wallet_id"], "to_wallet": world.red.alice["wallet_id"], "amount": 1}),
            ("POST", "/admin/keys", {"user_id": blue.alice["id"]}),
            ("DELETE", f"/admin/keys/{world.blue_key_id}", None),
            ("GET", f"/admin/transactions?wallet_id={blue.alice['wallet_id']}", None),
            ("GET", f"/admin/transactions?user_id={blue.alice['id']}", None),
            ("GET", f"/admin/usage?team_id={blue.team['id']}", None),
            ("GET", f"/admin/usage?user_id={blue.alice['id']}", None),
            ("GET", f"/admin/approvals?team_id={blue.team['id']}", None),
            ("POST", f"/admin/approvals/{world.blue_approval}/approve", None),
            ("POST", f"/admin/approvals/{world.blue_approval}/reject", None),
        ]  # fmt: skip
        for method, path, body in refused:
            response = await admin.request(method, path, json=body)
            assert_openai_error(response, 404, "not_found")
        for forbidden in ("/admin/transactions", "/admin/audit/verify", "/admin/ledger/check"):
            assert_openai_error(await admin.get(forbidden), 403, "permission_denied")
        assert_openai_error(await admin.post("/admin/teams", json={"name": "takeover"}), 403)
        assert_openai_error(
            await admin.post(
                "/admin/users", json={"email": "x@blue.io", "name": "X", "team_id": blue.team["id"]}
            ),
            403,
        )
    async with world.harness.client() as master:
        # Nothing of blue's changed.
        assert (await master.get(f"/admin/wallets/{blue.alice['wallet_id']}")).json()["status"] == "active"
        assert (await master.get(f"/admin/keys?user_id={blue.alice['id']}")).json()[0]["is_active"] is True
        assert (await master.get("/admin/approvals")).json()[0]["state"] == "pending"
        assert (await master.get(f"/admin/users/{blue.alice['id']}")).json()["status"] == "active"


async def test_listings_hold_only_the_admins_own_team(world: World) -> None:
    red_users, red_wallets = _ids(world.red)
    blue_users, blue_wallets = _ids(world.blue)
    async with world.harness.client(world.red.admin_key) as admin, world.harness.client() as master:
        assert {t["id"] for t in (await admin.get("/admin/teams")).json()} == {world.red.team["id"]}
        assert {u["id"] for u in (await admin.get("/admin/users")).json()} == red_users
        assert {k["user_id"] for k in (await admin.get("/admin/keys")).json()} == red_users
        usage = (await admin.get("/admin/usage?group_by=model")).json()
        assert [u["key"] for u in usage] == ["red-model"]
        assert (await admin.get("/admin/approvals")).json() == []
        for wallet in red_wallets:
            for row in (await admin.get(f"/admin/transactions?wallet_id={wallet}")).json():
                assert row["wallet_id"] in red_wallets and row["user_id"] not in blue_users
        audit = (await admin.get("/admin/audit?limit=1000")).json()
        assert audit and all(
            not _mentions(row, blue_users, blue_wallets, world.blue.team["id"]) for row in audit
        )
        # The control: the global admin sees blue's rows, and both teams' usage.
        everything = (await master.get("/admin/audit?limit=1000")).json()
        assert any(_mentions(row, blue_users, blue_wallets, world.blue.team["id"]) for row in everything)
        assert {u["key"] for u in (await master.get("/admin/usage?group_by=model")).json()} == {
            "red-model",
            "blue-model",
        }


def _mentions(row: dict[str, Any], users: set[int], wallets: set[int], team_id: int) -> bool:
    details = row["details"]
    named_users = {details.get(k) for k in ("user_id", "owner_id", "from_user", "to_user")} | {row["user_id"]}
    named_wallets = {details.get(k) for k in ("wallet_id", "from_wallet", "to_wallet")}
    return bool(named_users & users or named_wallets & wallets or details.get("team_id") == team_id)


async def test_me_shows_only_the_callers_own_data(world: World) -> None:
    _, blue_wallets = _ids(world.blue)
    async with world.harness.client(world.red.alice_key) as alice:
        me = (await alice.get("/v1/me")).json()
    assert me["user"]["id"] == world.red.alice["id"] and me["team"]["id"] == world.red.team["id"]
    assert {w["id"] for w in me["wallets"]} == {world.red.alice["wallet_id"], world.red.team["wallet_id"]}
    assert me["usage"]["requests"] == 1 and me["usage"]["cost"] == "0.1"
    async with world.harness.client(world.red.bob_key) as bob:
        other = (await bob.get("/v1/me")).json()
    assert other["usage"]["requests"] == 0 and other["key"]["user_id"] == world.red.bob["id"]
    text = str(me) + str(other)
    assert "blue" not in text and not {w["id"] for w in other["wallets"]} & blue_wallets
