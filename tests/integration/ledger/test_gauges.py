"""The ledger gauges the reconcile loop keeps fresh: open reservations, credits held, team budgets used,
and the self-check's drift, read from a real ledger (SQLite and PostgreSQL) into a real GatewayMetrics."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from alfred.governance.build import Reconciler
from alfred.ledger import Ledger
from alfred.ledger.gauges import budget_used, read_gauges
from alfred.ledger.money import MICROS_PER_USD
from alfred.ledger.tables import Wallet
from alfred.observability.metrics import GatewayMetrics
from tests.unit.observability.test_metrics import value

from .seed import squad, wallet


def test_budget_used_is_what_is_gone_over_what_may_ever_be_spent() -> None:
    assert budget_used(credited=10_000, balance=7_500, reserved=6_000, hard_limit=0) == 0.85
    # a floor below zero is credit: it adds to what may be spent
    assert budget_used(credited=10_000, balance=1_000, reserved=0, hard_limit=-10_000) == 0.45
    assert budget_used(credited=0, balance=0, reserved=0, hard_limit=0) is None


async def test_the_reconciler_sets_the_gauges_from_the_ledger(ledger: Ledger) -> None:
    s = await squad(ledger, pool=10_000, quota=1_000)
    pool = wallet(s.team)
    await ledger.wallets.reserve(pool, "t1", 3_000)
    await ledger.wallets.settle("t1", 2_500)
    await ledger.wallets.reserve(pool, "t2", 6_000)
    await ledger.governance.reserve(s.alice.id, "a1", 400)
    gauges = await read_gauges(ledger.db)
    assert (gauges.open_reservations, gauges.held) == (2, 6_400)
    assert gauges.budgets == {s.team.id: pytest.approx(0.85)}

    metrics = GatewayMetrics()
    clock = [0.0]
    reconciler = Reconciler(ledger, 30, metrics=metrics, check_interval_s=300, monotonic=lambda: clock[0])
    await reconciler.run_once()
    assert value(metrics, "alfred_ledger_reservations_outstanding") == 2
    assert value(metrics, "alfred_ledger_reserved_usd") == pytest.approx(6_400 / MICROS_PER_USD)
    assert value(metrics, "alfred_budget_used_ratio", team=str(s.team.id)) == pytest.approx(0.85)
    assert value(metrics, "alfred_ledger_drift_usd") == 0

    # a balance edited behind the ledger's back is drift, seen at the next self-check, not before
    async with ledger.db.transaction() as session:
        await session.execute(update(Wallet).where(Wallet.id == pool).values(balance=Wallet.balance + 5))
    await ledger.wallets.settle("t2", 6_000)
    clock[0] = 299.0
    await reconciler.run_once()
    assert value(metrics, "alfred_ledger_reservations_outstanding") == 1
    assert value(metrics, "alfred_ledger_drift_usd") == 0
    clock[0] = 301.0
    await reconciler.run_once()
    assert value(metrics, "alfred_ledger_drift_usd") == pytest.approx(5 / MICROS_PER_USD)


async def test_expired_reservations_are_counted(ledger: Ledger, clock) -> None:
    s = await squad(ledger)
    await ledger.governance.reserve(s.alice.id, "a1", 400)
    metrics = GatewayMetrics()
    reconciler = Reconciler(ledger, 30, metrics=metrics)
    clock.advance(seconds=120)  # the fixture's reservation TTL is 60 s
    assert await reconciler.run_once() == 1
    assert value(metrics, "alfred_ledger_reservations_total", event="expired") == 1
    assert value(metrics, "alfred_ledger_reservations_outstanding") == 0
    assert value(metrics, "alfred_ledger_stale_reservations") == 0
