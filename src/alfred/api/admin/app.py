"""``build_admin_app``: the admin and self-service API as one FastAPI app.

The gateway mounts it as its router's fallback, so besides ``/admin/*`` and ``/v1/me*`` it also
answers every path nothing else claimed, with the gateway's own OpenAI-format 404.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from alfred.api.admin import (
    approval_routes,
    cache_routes,
    directory_routes,
    image_routes,
    key_routes,
    ledger_routes,
    me_routes,
    provider_routes,
    wallet_routes,
)
from alfred.api.admin.deps import AdminDeps
from alfred.api.admin.errors import document_errors, install

TITLE = "Alfred admin API"
VERSION = "1"
DESCRIPTION = (
    "Users, teams, API keys, wallets, the credit ledger and the audit log. Authenticate with the master "
    "key or an admin user's API key (`Authorization: Bearer …`). Credits: 1 USD = 100 credits; amounts "
    "are decimal strings in credits, with exact integer micro-credits beside them."
)


def build_admin_app(deps: AdminDeps | None) -> FastAPI:
    """The admin app over ``deps``; with None it serves only its OpenAPI document (the SDK snapshot)."""
    app = FastAPI(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        openapi_url="/admin/openapi.json",
        docs_url="/admin/docs",
        redoc_url=None,
    )
    app.state.deps = deps
    for module in (
        directory_routes,
        key_routes,
        wallet_routes,
        ledger_routes,
        approval_routes,
        me_routes,
        provider_routes,
        image_routes,
        cache_routes,
    ):
        app.include_router(module.router)
    install(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=TITLE, version=VERSION, description=DESCRIPTION, routes=app.routes)
            document_errors(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
