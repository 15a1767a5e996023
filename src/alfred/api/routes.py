"""The HTTP surface: which path goes to which endpoint, wrapped in the outer middleware."""

from __future__ import annotations

from typing import Any

from starlette.middleware.cors import CORSMiddleware

from alfred.api.errors import send_error
from alfred.api.http import Receive, Scope, Send
from alfred.api.middleware.edge import EdgeMiddleware
from alfred.api.middleware.request_id import request_id_of
from alfred.errors import AlfredError, NotFoundError
from alfred.observability.logging import RequestLog

ASGIApp = Any


class PathRouter:
    """Exact paths first (the hot ones), then prefixes, then the optional fallback app (admin, console)."""

    def __init__(
        self,
        exact: dict[tuple[str, str], ASGIApp],
        prefixes: list[tuple[str, str, ASGIApp]],
        fallback: ASGIApp | None = None,
    ) -> None:
        self._exact = exact
        self._prefixes = prefixes
        self._fallback = fallback
        self._paths = {path for _, path in exact} | {prefix for _, prefix, _ in prefixes}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            if self._fallback is not None:
                await self._fallback(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        method = scope["method"]
        path = scope["path"]
        app = self._exact.get((method, path))
        if app is None:
            for prefix_method, prefix, candidate in self._prefixes:
                if path.startswith(prefix) and method == prefix_method:
                    app = candidate
                    break
        if app is not None:
            await app(scope, receive, send)
            return
        error: AlfredError
        if path in self._paths or any(path.startswith(p) for p in self._paths):
            # One of ours with the wrong method: 405 here, before the fallback could call it unknown.
            error = AlfredError(
                f"method {method} is not allowed on {path}", code="method_not_allowed", status=405
            )
        elif self._fallback is not None:
            await self._fallback(scope, receive, send)
            return
        else:
            error = NotFoundError(f"no route for {method} {path}; the API lives under /v1")
        await send_error(send, error, request_id_of(scope))


def wrap_outer(
    app: ASGIApp,
    cors_origins: list[str],
    request_log: RequestLog | None = None,
    *,
    cors_allow_credentials: bool = False,
) -> ASGIApp:
    """The seed's outer chain, outermost first: Recover → RequestID → Logger (one layer) → CORS."""
    if cors_allow_credentials and "*" in cors_origins:
        # Starlette would answer such a preflight by echoing any Origin with credentials allowed.
        raise ValueError(
            "server.cors_origins: '*' cannot be combined with cors_allow_credentials; list the origins"
        )
    if cors_origins:
        app = CORSMiddleware(
            app,
            allow_origins=cors_origins,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["authorization", "content-type", "x-api-key", "x-request-id", "x-alfred-*"],
            expose_headers=["x-request-id", "x-alfred-model", "x-alfred-provider", "x-alfred-cost"],
            allow_credentials=cors_allow_credentials,
        )
    return EdgeMiddleware(app, request_log)
