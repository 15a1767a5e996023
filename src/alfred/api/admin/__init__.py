"""The admin API (``/admin``: teams, users, keys, wallets, transactions, usage, audit, approvals,
providers) and self-service (``/v1/me``), over the governance ledger.

Build it with ``build_admin_app(AdminDeps(...))``; ``build_admin_app(None)`` serves only the OpenAPI
document (``sdk/generate.py --admin-from-source`` snapshots it from there).
"""

from alfred.api.admin.app import build_admin_app
from alfred.api.admin.deps import AdminDeps, Principal

__all__ = ["AdminDeps", "Principal", "build_admin_app"]
