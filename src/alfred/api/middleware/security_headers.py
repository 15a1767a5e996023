"""Browser-facing hardening for the pages a person opens: the admin console and the Forge page.

Responses under the page prefixes get a Content-Security-Policy that loads nothing from elsewhere
and may not be framed (clickjacking), ``X-Content-Type-Options: nosniff``, ``X-Frame-Options`` for
browsers without frame-ancestors, a referrer policy that leaks no URLs, and a cross-origin opener
policy. A header the app set itself is kept. Cookies set under those prefixes or the admin API get
``Secure``, ``HttpOnly`` and ``SameSite=Strict`` when they lack them. API responses (JSON and SSE
for programs) pass through untouched, so the hot path pays one prefix check.
"""

from __future__ import annotations

from typing import Any

from alfred.api.http import Message, Receive, Scope, Send

PAGE_PREFIXES: tuple[str, ...] = ("/console", "/forge")
COOKIE_PREFIXES: tuple[str, ...] = (*PAGE_PREFIXES, "/admin")

# Generated images come from the CDN or presigned URLs (https:) or inline (data:, blob:).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: https:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
PAGE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
_COOKIE_FLAGS: tuple[tuple[bytes, bytes], ...] = (
    (b"secure", b"; Secure"),
    (b"httponly", b"; HttpOnly"),
    (b"samesite", b"; SameSite=Strict"),
)


def harden_cookie(value: bytes) -> bytes:
    """A Set-Cookie value with Secure, HttpOnly and SameSite=Strict added where missing."""
    attributes = {part.strip().split(b"=", 1)[0].lower() for part in value.split(b";")[1:]}
    for name, addition in _COOKIE_FLAGS:
        if name not in attributes:
            value += addition
    return value


class SecurityHeadersMiddleware:
    """Adds ``PAGE_HEADERS`` under ``page_prefixes`` and hardens cookies under ``cookie_prefixes``."""

    def __init__(
        self,
        app: Any,
        page_prefixes: tuple[str, ...] = PAGE_PREFIXES,
        cookie_prefixes: tuple[str, ...] = COOKIE_PREFIXES,
    ) -> None:
        self.app = app
        self._pages = page_prefixes
        self._cookies = cookie_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        page = path.startswith(self._pages)
        if not page and not path.startswith(self._cookies):
            await self.app(scope, receive, send)
            return

        async def send_hardened(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _hardened(list(message.get("headers", ())), page)
            await send(message)

        await self.app(scope, receive, send_hardened)


def _hardened(headers: list[tuple[bytes, bytes]], page: bool) -> list[tuple[bytes, bytes]]:
    out = [(k, harden_cookie(v)) if k.lower() == b"set-cookie" else (k, v) for k, v in headers]
    if page:
        present = {k.lower() for k, _ in out}
        out.extend((k, v) for k, v in PAGE_HEADERS if k not in present)
    return out
