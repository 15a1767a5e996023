"""Wallets through the admin API: read, limits, top-ups (idempotent) and transfers (both sides at once)."""

from __future__ import annotations

import httpx

from tests.integration.admin.harness import Harness, assert_openai_error, make_tenant


async def _balances(master: httpx.AsyncClient, *wallet_ids: int) -> list[str]:
    return [(await master.get(f"/admin/wallets/{w}")).json()["balance"] for w in wallet_ids]


async def test_topup_is_idempotent_by_header_or_body(master: httpx.AsyncClient) -> None:
    red = await make_tenant(master, "red", quota="10")
    wallet = red.alice["wallet_id"]
    first = await master.post(
        f"/admin/wallets/{wallet}/topup", json={"amount": "2.5"}, headers={"idempotency-key": "t1"}
    )
    assert first.status_code == 200, first.text
    posting = first.json()
    assert posting["type"] == "topup" and posting["amount"] == "2.5" and posting["amount_micros"] == 2_500_000
    assert posting["balances"] == {str(wallet): "12.5"} and posting["replayed"] is False
    again = (
        await master.post(
            f"/admin/wallets/{wallet}/topup", json={"amount": "2.5"}, headers={"idempotency-key": "t1"}
        )
    ).json()
    assert again["replayed"] is True and again["transaction_id"] == posting["transaction_id"]
    body_key = (
        await master.post(f"/admin/wallets/{wallet}/topup", json={"amount": 1, "idempotency_key": "t2"})
    ).json()
    replay = (
        await master.post(f"/admin/wallets/{wallet}/topup", json={"amount": 1, "idempotency_key": "t2"})
    ).json()
    assert replay["replayed"] and replay["transaction_id"] == body_key["transaction_id"]
    assert await _balances(master, wallet) == ["13.5"]
    assert_openai_error(await master.post(f"/admin/wallets/{wallet}/topup", json={"amount": 0}), 422)
    assert_openai_error(await master.post("/admin/wallets/999/topup", json={"amount": 1}), 404)
    error = assert_openai_error(
        await master.post(
            f"/admin/wallets/{wallet}/topup", json={"amount": 1}, headers={"idempotency-key": "k" * 129}
        ),
        422,
    )
    assert error["param"] == "Idempotency-Key"


async def test_transfer_moves_both_sides_in_one_transaction(master: httpx.AsyncClient) -> None:
    red = await make_tenant(master, "red", pool="100", quota="10")
    alice, pool = red.alice["wallet_id"], red.team["wallet_id"]
    moved = await master.post(
        "/admin/wallets/transfer", json={"from_wallet": pool, "to_wallet": alice, "amount": "7"}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["balances"] == {str(pool): "93", str(alice): "17"}
    assert await _balances(master, pool, alice) == ["93", "17"]
    transactions = (await master.get(f"/admin/transactions?wallet_id={alice}&type=transfer")).json()
    assert [t["id"] for t in transactions] == [moved.json()["transaction_id"]]
    check = (await master.get("/admin/ledger/check")).json()
    assert check["healthy"] is True and check["drift"] == 0


async def test_transfer_refusals_change_nothing(master: httpx.AsyncClient) -> None:
    red = await make_tenant(master, "red", pool="100", quota="10")
    alice, pool = red.alice["wallet_id"], red.team["wallet_id"]
    for amount in ("-1", 0, "abc"):
        error = assert_openai_error(
            await master.post(
                "/admin/wallets/transfer", json={"from_wallet": pool, "to_wallet": alice, "amount": amount}
            ),
            422,
        )
        assert error["param"] == "amount"
    assert_openai_error(
        await master.post(
            "/admin/wallets/transfer", json={"from_wallet": alice, "to_wallet": alice, "amount": 1}
        ),
        400,
        "same_account",
    )
    assert_openai_error(
        await master.post(
            "/admin/wallets/transfer", json={"from_wallet": alice, "to_wallet": pool, "amount": 11}
        ),
        402,
        "insufficient_quota",
    )
    error = assert_openai_error(
        await master.post(
            "/admin/wallets/transfer", json={"from_wallet": alice, "to_wallet": 999, "amount": 1}
        ),
        404,
    )
    assert error["param"] == "to_wallet"
    assert await _balances(master, pool, alice) == ["100", "10"]
    assert (await master.get("/admin/ledger/check")).json()["drift"] == 0


async def test_limits_and_status(master: httpx.AsyncClient) -> None:
    red = await make_tenant(master, "red", quota="10")
    wallet = red.alice["wallet_id"]
    changed = await master.patch(f"/admin/wallets/{wallet}", json={"hard_limit": "2", "soft_limit": "5"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["hard_limit"], changed.json()["soft_limit"], changed.json()["spendable"]) == (
        "2",
        "5",
        "8",
    )
    kept = (await master.patch(f"/admin/wallets/{wallet}", json={"status": "frozen"})).json()
    assert kept["status"] == "frozen" and kept["soft_limit"] == "5"  # unnamed fields stay as they were
    cleared = (
        await master.patch(f"/admin/wallets/{wallet}", json={"clear_soft_limit": True, "status": "active"})
    ).json()
    assert cleared["soft_limit"] is None and cleared["status"] == "active"
    assert_openai_error(await master.patch(f"/admin/wallets/{wallet}", json={"status": "melted"}), 422)
    assert_openai_error(await master.patch("/admin/wallets/999", json={"status": "frozen"}), 404)
    limits = [r for r in (await master.get("/admin/audit?event_type=wallet.limits")).json()]
    assert len(limits) == 3 and limits[-1]["details"]["after"] == {
        "hard_limit": 2_000_000,
        "soft_limit": 5_000_000,
    }


async def test_a_team_admin_moves_credits_inside_their_team_only(
    harness: Harness, master: httpx.AsyncClient
) -> None:
    red = await make_tenant(master, "red", pool="100")
    blue = await make_tenant(master, "blue", pool="100")
    async with harness.client(red.admin_key) as admin:
        inside = {"from_wallet": red.team["wallet_id"], "to_wallet": red.bob["wallet_id"], "amount": 1}
        assert (await admin.post("/admin/wallets/transfer", json=inside)).status_code == 200
        out = {"from_wallet": red.team["wallet_id"], "to_wallet": blue.bob["wallet_id"], "amount": 1}
        assert_openai_error(await admin.post("/admin/wallets/transfer", json=out), 404)
        steal = {"from_wallet": blue.team["wallet_id"], "to_wallet": red.bob["wallet_id"], "amount": 1}
        assert_openai_error(await admin.post("/admin/wallets/transfer", json=steal), 404)
        # Top-ups create money: global admins only.
        assert_openai_error(
            await admin.post(f"/admin/wallets/{red.bob['wallet_id']}/topup", json={"amount": 1}),
            403,
            "permission_denied",
        )
        assert (
            await admin.patch(f"/admin/wallets/{red.bob['wallet_id']}", json={"soft_limit": 1})
        ).status_code == 200
        assert_openai_error(
            await admin.patch(f"/admin/wallets/{blue.bob['wallet_id']}", json={"soft_limit": 1}), 404
        )
    assert await _balances(master, blue.team["wallet_id"], blue.bob["wallet_id"]) == ["100", "10"]


async def test_a_transfer_the_target_refuses_leaves_the_source_untouched(
    harness: Harness, master: httpx.AsyncClient
) -> None:
    red = await make_tenant(master, "red", quota="10")
    alice, bob = red.alice["wallet_id"], red.bob["wallet_id"]
    closed = await master.patch(f"/admin/wallets/{bob}", json={"status": "closed"})
    assert closed.json()["status"] == "closed"
    # The debit of alice's wallet runs first; the credit then fails, and the debit goes with it.
    body = {"from_wallet": alice, "to_wallet": bob, "amount": 3}
    assert_openai_error(await master.post("/admin/wallets/transfer", json=body), 400, "wallet_inactive")
    async with harness.client(red.alice_key) as own:
        refused = await own.post("/v1/me/transfers", json={"to_user_id": red.bob["id"], "amount": 3})
    assert_openai_error(refused, 400, "wallet_inactive")
    assert await _balances(master, alice, bob) == ["10", "10"]
    assert (await master.get(f"/admin/transactions?wallet_id={alice}&type=transfer")).json() == []
    assert (await master.get("/admin/audit?event_type=wallet.transfer")).json() == []
    assert (await master.get("/admin/ledger/check")).json()["drift"] == 0
