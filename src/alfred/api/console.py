"""GET /console: the admin console's built files (web/ → src/alfred/web/console), served from memory.

The build is small (one HTML page, a few hashed assets), so it is read once when the endpoint is built.
Hashed assets never change under their name and are cached for a year; index.html is revalidated on
every load so a new release is picked up at once. Every answer carries a CSP that allows only this
origin: the console needs nothing else, and an injected script would find nowhere to send a key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alfred.api.errors import send_error
from alfred.api.http import Receive, Scope, Send
from alfred.api.middleware.request_id import request_id_of
from alfred.errors import AlfredError, NotFoundError

BUILD_DIR = Path(__file__).resolve().parents[1] / "web" / "console"
PREFIX = "/console"
ASSETS = PREFIX + "/assets/"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: https:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
IMMUTABLE = b"public, max-age=31536000, immutable"
REVALIDATE = b"no-cache"
CONTENT_TYPES = {
    ".html": b"text/html; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".svg": b"image/svg+xml",
    ".png": b"image/png",
    ".ico": b"image/x-icon",
    ".woff2": b"font/woff2",
    ".json": b"application/json",
    ".map": b"application/json",
}


@dataclass(frozen=True, slots=True)
class StaticFile:
    """One file of the build: its bytes, content type and cache policy."""

    body: bytes
    content_type: bytes
    cache_control: bytes


def load_build(build_dir: Path = BUILD_DIR) -> tuple[StaticFile | None, dict[str, StaticFile]]:
    """The built index.html (None when the console was never built) and the assets by file name."""
    index_path = build_dir / "index.html"
    index = (
        StaticFile(index_path.read_bytes(), CONTENT_TYPES[".html"], REVALIDATE)
        if index_path.is_file()
        else None
    )
    assets: dict[str, StaticFile] = {}
    assets_dir = build_dir / "assets"
    if assets_dir.is_dir():
        for path in assets_dir.iterdir():
            content_type = CONTENT_TYPES.get(path.suffix)
            if path.is_file() and content_type is not None:
                assets[path.name] = StaticFile(path.read_bytes(), content_type, IMMUTABLE)
    return index, assets


class ConsoleEndpoint:
    """Serves the console: ``/console`` and ``/console/`` → index.html, ``/console/assets/<name>`` → an asset."""

    def __init__(self, build_dir: Path = BUILD_DIR) -> None:
        self._index, self._assets = load_build(build_dir)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        found = self._find(path)
        if found is None:
            await send_error(send, self._missing(path), request_id_of(scope))
            return
        if method not in ("GET", "HEAD"):
            error = AlfredError(
                f"method {method} is not allowed on {path}", code="method_not_allowed", status=405
            )
            await send_error(send, error, request_id_of(scope))
            return
        headers = [
            (b"content-type", found.content_type),
            (b"content-length", str(len(found.body)).encode()),
            (b"cache-control", found.cache_control),
            *SECURITY_HEADERS,
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else found.body})

    def _find(self, path: str) -> StaticFile | None:
        if path in (PREFIX, PREFIX + "/", PREFIX + "/index.html"):
            return self._index
        if path.startswith(ASSETS):
            return self._assets.get(path[len(ASSETS) :])
        return None

    def _missing(self, path: str) -> AlfredError:
        if self._index is None and path in (PREFIX, PREFIX + "/"):
            return NotFoundError("the console is not built: run `npm ci && npm run build` in web/")
        return NotFoundError(f"no console file at {path}; open /console")
