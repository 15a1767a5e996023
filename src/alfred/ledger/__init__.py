"""The governance data layer: users, teams, API keys, wallets, the double-entry credit ledger with
reservations, and the hash-chained audit log.

Amounts are integer micro-credits everywhere (1 USD = 100 credits = 10⁸ micro-credits; see ``money``).
Build everything with ``Ledger.build(settings, key_secret=…)``; migrate the database first with
``alfred.state.db.migrate(url)``.

The names below load on first use: the config imports ``alfred.ledger.settings``, and that must not
pull SQLAlchemy into every start of the CLI or of a gateway that runs without governance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alfred.lazy import lazy_exports

if TYPE_CHECKING:
    from alfred.ledger.accounts import Accounts, WalletInfo
    from alfred.ledger.approvals import ApprovalInfo, Approvals
    from alfred.ledger.audit import AuditEntry, AuditEvent, AuditLog, AuditVerdict
    from alfred.ledger.charging import Charge
    from alfred.ledger.check import Discrepancy, LedgerReport, check_ledger
    from alfred.ledger.directory import Directory, TeamInfo, UserInfo
    from alfred.ledger.entries import Posting
    from alfred.ledger.governance import Governance
    from alfred.ledger.keys import ApiKeys, CreatedKey, KeyHasher, KeyIdentity, KeyInfo
    from alfred.ledger.pricing import PriceTable
    from alfred.ledger.service import Ledger
    from alfred.ledger.settings import LedgerSettings, ModelPrice
    from alfred.ledger.wallets import Hold, Wallets

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Accounts": "accounts",
        "WalletInfo": "accounts",
        "ApprovalInfo": "approvals",
        "Approvals": "approvals",
        "AuditEntry": "audit",
        "AuditEvent": "audit",
        "AuditLog": "audit",
        "AuditVerdict": "audit",
        "Charge": "charging",
        "Discrepancy": "check",
        "LedgerReport": "check",
        "check_ledger": "check",
        "Directory": "directory",
        "TeamInfo": "directory",
        "UserInfo": "directory",
        "Posting": "entries",
        "Governance": "governance",
        "ApiKeys": "keys",
        "CreatedKey": "keys",
        "KeyHasher": "keys",
        "KeyIdentity": "keys",
        "KeyInfo": "keys",
        "PriceTable": "pricing",
        "Ledger": "service",
        "LedgerSettings": "settings",
        "ModelPrice": "settings",
        "Hold": "wallets",
        "Wallets": "wallets",
    },
)


__all__ = [
    "Accounts",
    "ApiKeys",
    "ApprovalInfo",
    "Approvals",
    "AuditEntry",
    "AuditEvent",
    "AuditLog",
    "AuditVerdict",
    "Charge",
    "CreatedKey",
    "Directory",
    "Discrepancy",
    "Governance",
    "Hold",
    "KeyHasher",
    "KeyIdentity",
    "KeyInfo",
    "Ledger",
    "LedgerReport",
    "LedgerSettings",
    "ModelPrice",
    "Posting",
    "PriceTable",
    "TeamInfo",
    "UserInfo",
    "WalletInfo",
    "Wallets",
    "check_ledger",
]
