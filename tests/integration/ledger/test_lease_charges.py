"""A request settled on a credit lease leaves its charge and no reservation row of its own, on SQLite and
PostgreSQL: a client that later sends its id is refused before it is held again, and a repeated settle
returns the first charge."""

from __future__ import annotations

from sqlalchemy import select

from alfred.ledger import Ledger
from alfred.ledger.tables import LedgerTransaction, Reservation

COST = 1_000


async def test_a_leased_charge_is_found_by_a_clients_resend_and_a_repeated_settle(ledger: Ledger) -> None:
    user = await ledger.directory.create_user("a@l.io", "A", personal_quota=10**9)
    hold = await ledger.governance.reserve(user.id, "gw-1", 2 * COST, fresh_id=True)
    assert hold.request_id == "gw-1" and not hold.replayed
    charge = await ledger.wallets.settle("gw-1", COST, prompt_tokens=3, completion_tokens=1)
    assert (charge.charged, charge.replayed) == (COST, False)
    async with ledger.db.session() as session:
        rows = (await session.execute(select(Reservation.request_id))).scalars().all()
        charges = (
            await session.execute(select(LedgerTransaction).where(LedgerTransaction.request_id == "gw-1"))
        ).scalars()
        assert [(t.type, t.amount) for t in charges] == [("charge", COST)]
    assert all(r.startswith("lease:") for r in rows)  # only the lease has a row

    resend = await ledger.governance.reserve(user.id, "gw-1", 2 * COST)  # a client sends the id back
    assert resend.replayed and resend.state == "settled" and resend.charged == COST
    again = await ledger.wallets.settle("gw-1", COST)
    assert again.replayed and again.charged == COST and again.transaction_id == charge.transaction_id
    info = await ledger.accounts.get(user.wallet_id or 0)
    assert info.balance == 10**9 - COST  # charged once
    report = await ledger.check()
    assert report.healthy, report.summary()
