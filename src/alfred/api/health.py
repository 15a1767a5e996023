"""Liveness and readiness probes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec

from alfred.api.http import Receive, Scope, Send, send_bytes

ReadinessCheck = Callable[[], Awaitable[None]]


class HealthEndpoint:
    """GET /health/live (the process answers) and GET /health/ready (every backend reachable)."""

    def __init__(self, checks: dict[str, ReadinessCheck]) -> None:
        self._checks = checks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"].endswith("/live"):
            await send_bytes(send, 200, b'{"status":"ok"}')
            return
        results: dict[str, str] = {}
        ok = True
        for name, check in self._checks.items():
            try:
                await check()
                results[name] = "ok"
            except Exception as exc:
                ok = False
                results[name] = f"unavailable: {type(exc).__name__}"
        body = msgspec.json.encode({"status": "ok" if ok else "unavailable", "checks": results})
        await send_bytes(send, 200 if ok else 503, body)
