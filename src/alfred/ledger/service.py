"""``Ledger``: every part of the governance data layer, built from settings over one database.

The composition root (``alfred.app``) builds one and hands its parts to the stages and admin routes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from alfred.ledger.accounts import Accounts
from alfred.ledger.approvals import Approvals
from alfred.ledger.audit import AuditLog
from alfred.ledger.check import LedgerReport, check_ledger
from alfred.ledger.directory import Directory
from alfred.ledger.governance import Governance
from alfred.ledger.keys import ApiKeys, KeyHasher
from alfred.ledger.pricing import PriceLike, PriceTable
from alfred.ledger.settings import LedgerSettings
from alfred.ledger.tables import utc_now
from alfred.ledger.wallets import Wallets
from alfred.state.db import Database

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class Ledger:
    """The governance ledger's parts, sharing one database, audit log and clock."""

    db: Database
    audit: AuditLog
    wallets: Wallets
    accounts: Accounts
    directory: Directory
    governance: Governance
    approvals: Approvals
    keys: ApiKeys
    prices: PriceTable
    clock: Clock

    @classmethod
    def build(
        cls,
        settings: LedgerSettings,
        *,
        key_secret: bytes | str,
        db: Database | None = None,
        clock: Clock = utc_now,
        extra_prices: Mapping[str, PriceLike] | None = None,
    ) -> Ledger:
        """Wire the parts; ``db`` defaults to one opened from the settings (connections open lazily)."""
        database = db or Database.connect(
            settings.database_url, replica_url=settings.replica_url, options=settings.database_options()
        )
        audit = AuditLog(database, clock=clock)
        wallets = Wallets(
            database,
            reservation_ttl=timedelta(seconds=settings.reservation_ttl_s),
            clock=clock,
            leases=settings.leases,
        )
        return cls(
            db=database,
            audit=audit,
            wallets=wallets,
            accounts=Accounts(database, audit, clock=clock),
            directory=Directory(
                database, audit, clock=clock, default_vacation_share_pct=settings.default_vacation_share_pct
            ),
            governance=Governance(database, wallets, audit, clock=clock),
            approvals=Approvals(database, audit, clock=clock),
            keys=ApiKeys(database, KeyHasher(key_secret), audit, clock=clock),
            prices=PriceTable.from_settings(settings, extra_prices),
            clock=clock,
        )

    async def check(self) -> LedgerReport:
        return await check_ledger(self.db, clock=self.clock)

    async def close(self) -> None:
        await self.wallets.close()
        await self.db.dispose()
