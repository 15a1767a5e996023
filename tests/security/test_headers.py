"""Browser-facing headers: CORS exactly as configured (and never ``*`` with credentials), security
headers on the console pages, hardened cookies."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from alfred.api.middleware.security_headers import SecurityHeadersMiddleware, harden_cookie
from alfred.api.routes import wrap_outer
from tests.security.conftest import limited_gateway
from tests.servers import ROOT, free_port

CONSOLE_ORIGIN = "https://console.example"


@pytest.fixture(scope="module")
def cors_gateway() -> Iterator[str]:
    env = {"ALFRED_MASTER_KEY": "k", "ALFRED_SERVER__CORS_ORIGINS": f'["{CONSOLE_ORIGIN}"]'}
    with limited_gateway(env) as (url, _):
        yield url


def test_cors_allows_only_the_configured_origin(cors_gateway: str) -> None:
    preflight = {"access-control-request-method": "POST", "access-control-request-headers": "authorization"}
    with httpx.Client(base_url=cors_gateway, timeout=10) as client:
        ok = client.options("/v1/chat/completions", headers={"origin": CONSOLE_ORIGIN, **preflight})
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == CONSOLE_ORIGIN
        assert "access-control-allow-credentials" not in ok.headers
        evil = client.options("/v1/chat/completions", headers={"origin": "https://evil.example", **preflight})
        assert evil.status_code == 400 and "access-control-allow-origin" not in evil.headers
        simple = client.get("/v1/models", headers={"origin": "https://evil.example"})
        assert simple.status_code == 200 and "access-control-allow-origin" not in simple.headers
        mine = client.get("/v1/models", headers={"origin": CONSOLE_ORIGIN})
        assert mine.headers["access-control-allow-origin"] == CONSOLE_ORIGIN


def test_wildcard_origin_with_credentials_is_refused() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    with pytest.raises(ValueError, match="cannot be combined"):
        wrap_outer(app, ["*"], cors_allow_credentials=True)
    wrap_outer(app, ["*"])  # without credentials a wildcard is allowed
    wrap_outer(app, [CONSOLE_ORIGIN], cors_allow_credentials=True)


def test_a_gateway_configured_with_wildcard_and_credentials_does_not_start() -> None:
    env = {
        **os.environ,
        "ALFRED_MOCK_URL": "http://127.0.0.1:9",
        "ALFRED_MASTER_KEY": "k",
        "ALFRED_SERVER__CORS_ORIGINS": '["*"]',
        "ALFRED_SERVER__CORS_ALLOW_CREDENTIALS": "true",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "alfred",
            "serve",
            "--config",
            "examples/mock.yaml",
            "--port",
            str(free_port()),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert b"cannot be combined" in done.stderr + done.stdout


def test_console_pages_carry_security_headers_and_the_api_does_not(cors_gateway: str) -> None:
    with httpx.Client(base_url=cors_gateway, timeout=10) as client:
        page = client.get("/console/")
        api = client.get("/v1/models")
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp and "object-src 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "content-security-policy" not in api.headers


def _call(app: Any, path: str) -> list[tuple[bytes, bytes]]:
    import asyncio

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app({"type": "http", "path": path, "method": "GET", "headers": []}, receive, send))
    return list(sent[0]["headers"])


def test_cookies_get_secure_httponly_samesite_and_own_headers_are_kept() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"set-cookie", b"session=abc; Path=/"),
                    (b"set-cookie", b"pref=1; SameSite=Lax; Secure; HttpOnly"),
                    (b"content-security-policy", b"default-src 'none'"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    wrapped = SecurityHeadersMiddleware(app)
    headers = _call(wrapped, "/console/login")
    cookies = [v for k, v in headers if k == b"set-cookie"]
    assert cookies == [
        b"session=abc; Path=/; Secure; HttpOnly; SameSite=Strict",
        b"pref=1; SameSite=Lax; Secure; HttpOnly",
    ]
    assert [v for k, v in headers if k == b"content-security-policy"] == [b"default-src 'none'"]
    assert (b"x-content-type-options", b"nosniff") in headers
    admin = _call(wrapped, "/admin/session")
    assert b"session=abc; Path=/; Secure; HttpOnly; SameSite=Strict" in [
        v for k, v in admin if k == b"set-cookie"
    ]
    assert all(k != b"x-frame-options" for k, _ in admin)  # the admin API is JSON: cookies only
    untouched = _call(wrapped, "/v1/models")
    assert (b"set-cookie", b"session=abc; Path=/") in untouched


def test_harden_cookie_reads_attribute_names_not_values() -> None:
    assert harden_cookie(b"name=Secure") == b"name=Secure; Secure; HttpOnly; SameSite=Strict"
    assert harden_cookie(b"a=b; secure; httponly; samesite=none") == b"a=b; secure; httponly; samesite=none"
