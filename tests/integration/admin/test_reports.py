"""Transactions, usage, the audit log and its verification, the ledger check and reconciliation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text

from tests.integration.admin.harness import Harness, assert_openai_error, make_tenant
from tests.integration.admin.usage import cache_hit, call


async def test_usage_by_each_dimension(harness: Harness, master: httpx.AsyncClient) -> None:
    red = await make_tenant(master, "red", quota="10")
    blue = await make_tenant(master, "blue", quota="10")
    ledger = harness.ledger
    await call(ledger, red.alice["id"], "r1", 300_000, model="gpt-4o-mini", provider="openai")
    await call(ledger, red.alice["id"], "r2", 200_000, model="claude", provider="anthropic", tokens=(5, 5))
    await call(ledger, blue.bob["id"], "r3", 1_000_000, model="gpt-4o-mini", provider="openai")
    await cache_hit(ledger, red.bob["id"], red.bob["wallet_id"], "r4", 0)

    by_user = (await master.get("/admin/usage?group_by=user")).json()
    assert [(u["key"], u["requests"], u["cost_micros"]) for u in by_user] == [
        (str(blue.bob["id"]), 1, 1_000_000),
        (str(red.alice["id"]), 2, 500_000),
        (str(red.bob["id"]), 1, 0),
    ]
    assert (
        by_user[1]["cost"] == "0.5"
        and by_user[1]["prompt_tokens"] == 15
        and by_user[1]["completion_tokens"] == 25
    )
    assert by_user[2]["cache_hits"] == 1
    by_team = {u["key"]: u["cost_micros"] for u in (await master.get("/admin/usage?group_by=team")).json()}
    assert by_team == {str(blue.team["id"]): 1_000_000, str(red.team["id"]): 500_000}
    by_model = {u["key"]: u["requests"] for u in (await master.get("/admin/usage?group_by=model")).json()}
    assert by_model == {"gpt-4o-mini": 3, "claude": 1}
    by_provider = {
        u["key"]: u["cost_micros"] for u in (await master.get("/admin/usage?group_by=provider")).json()
    }
    assert by_provider == {"openai": 1_300_000, "anthropic": 200_000}
    today = datetime.now(UTC).date().isoformat()
    by_day = (await master.get("/admin/usage", params={"group_by": "day"})).json()
    assert [(d["key"], d["requests"]) for d in by_day] == [(today, 4)]
    red_only = (await master.get(f"/admin/usage?group_by=user&team_id={red.team['id']}")).json()
    assert {u["key"] for u in red_only} == {str(red.alice["id"]), str(red.bob["id"])}
    alice_only = (await master.get(f"/admin/usage?user_id={red.alice['id']}")).json()
    assert [u["requests"] for u in alice_only] == [2]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await master.get("/admin/usage", params={"since": future})).json() == []
    assert len((await master.get("/admin/usage", params={"until": future})).json()) == 3
    assert_openai_error(await master.get("/admin/usage?group_by=colour"), 422)


async def test_transactions_filter_and_page(harness: Harness, master: httpx.AsyncClient) -> None:
    red = await make_tenant(master, "red", quota="10")
    await call(harness.ledger, red.alice["id"], "req-1", 250_000, model="m1", provider="p1")
    charges = (await master.get("/admin/transactions?type=charge")).json()
    assert len(charges) == 1
    charge = charges[0]
    assert (charge["request_id"], charge["model"], charge["provider"], charge["amount"]) == (
        "req-1",
        "m1",
        "p1",
        "0.25",
    )
    assert charge["wallet_id"] == red.alice["wallet_id"] and charge["user_id"] == red.alice["id"]
    assert (await master.get("/admin/transactions?request_id=req-1")).json() == charges
    alice_wallet = (await master.get(f"/admin/transactions?wallet_id={red.alice['wallet_id']}")).json()
    assert [t["type"] for t in alice_wallet] == ["charge", "topup"]
    everything = (await master.get("/admin/transactions")).json()
    first_page = (await master.get("/admin/transactions?limit=2")).json()
    assert first_page == everything[:2]
    older = (await master.get("/admin/transactions", params={"before": first_page[-1]["created_at"]})).json()
    assert all(t["created_at"] < first_page[-1]["created_at"] for t in older) and older
    assert (await master.get(f"/admin/transactions?wallet_id={2**40}")).json() == []
    assert_openai_error(await master.get("/admin/transactions?limit=0"), 422)
    assert_openai_error(await master.get("/admin/transactions?limit=1001"), 422)


async def test_audit_lists_filters_and_verifies(harness: Harness, master: httpx.AsyncClient) -> None:
    red = await make_tenant(master, "red")
    rows = (await master.get("/admin/audit")).json()
    assert [r["seq"] for r in rows] == list(range(len(rows), 0, -1))  # newest first, dense
    assert rows[0]["previous_hash"] == rows[1]["hash"]
    page = (await master.get(f"/admin/audit?limit=2&before_seq={rows[1]['seq']}")).json()
    assert [r["seq"] for r in page] == [rows[2]["seq"], rows[3]["seq"]]
    created = (await master.get("/admin/audit?event_type=user.created")).json()
    assert {r["details"]["email"] for r in created} == {"admin@red.io", "alice@red.io", "bob@red.io"}
    assert (await master.get("/admin/audit?before_seq=1")).json() == []
    await master.post(f"/admin/users/{red.alice['id']}/vacation", json={"on": True})
    async with harness.client(red.alice_key) as alice:
        await alice.post("/v1/me/vacation", json={"on": False})
    mine = (await master.get(f"/admin/audit?user_id={red.alice['id']}")).json()
    assert [r["event_type"] for r in mine] == ["vacation.off"] and mine[0]["ip_address"] == "203.0.113.7"

    verdict = (await master.get("/admin/audit/verify")).json()
    assert verdict["ok"] is True and verdict["rows_checked"] == verdict["head_seq"] == len(rows) + 2
    async with harness.ledger.db.transaction() as session:
        await session.execute(text("UPDATE audit_log SET action = 'nothing happened' WHERE seq = 3"))
    broken = (await master.get("/admin/audit/verify")).json()
    assert (broken["ok"], broken["problem"], broken["seq"]) == (False, "altered", 3), broken


async def test_ledger_check_and_reconcile(harness: Harness, master: httpx.AsyncClient) -> None:
    red = await make_tenant(master, "red")
    check = (await master.get("/admin/ledger/check")).json()
    assert (
        check["healthy"]
        and check["drift"] == 0
        and check["problems"] == []
        and check["summary"].startswith("drift 0")
    )
    await harness.ledger.governance.reserve(red.alice["id"], "stuck", 1_000, ttl=timedelta(seconds=-1))
    stale = (await master.get("/admin/ledger/check")).json()
    assert (
        not stale["healthy"]
        and stale["problems"][0]["kind"] == "stale_reservation"
        and stale["open_reservations"] == 1
    )
    assert (await master.post("/admin/ledger/reconcile")).json() == {"expired": 1}
    assert (await master.post("/admin/ledger/reconcile")).json() == {"expired": 0}
    healthy = (await master.get("/admin/ledger/check")).json()
    assert healthy["healthy"] and healthy["open_reservations"] == 0
