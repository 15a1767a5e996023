"""Playwright driving Debian's chromium (never a downloaded browser), and a console-error collector."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@dataclass
class ConsoleLog:
    """Errors the page logged. A 404 from an admin endpoint this server lacks is expected, not an error:
    the console shows "not available on this server" for it. Everything else counts."""

    errors: list[str] = field(default_factory=list)
    expected_404s: list[str] = field(default_factory=list)

    def on_console(self, message: object) -> None:
        kind = getattr(message, "type", "")
        if kind != "error":
            return
        text = str(getattr(message, "text", ""))
        url = str((getattr(message, "location", None) or {}).get("url", ""))
        path = urlparse(url).path
        if "status of 404" in text and (path.startswith("/admin/") or path == "/v1/me"):
            self.expected_404s.append(path)
            return
        self.errors.append(f"{text} ({url})")

    def on_page_error(self, error: object) -> None:
        self.errors.append(f"uncaught: {error}")


@contextmanager
def chromium() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()
