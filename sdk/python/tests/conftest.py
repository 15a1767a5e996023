"""The SDK's tests run against a live gateway named by ALFRED_BASE_URL (and ALFRED_API_KEY, when it
requires one); tests/sdk/test_sdks.py starts one and runs them. Without it, the live tests skip."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
from alfred_sdk import Alfred


@pytest.fixture(scope="session")
def base_url() -> str:
    url = os.environ.get("ALFRED_BASE_URL")
    if not url:
        pytest.skip("ALFRED_BASE_URL is not set (no running gateway)")
    return url


@pytest.fixture
def client(base_url: str) -> Iterator[Alfred]:
    with Alfred(base_url=base_url) as alfred:
        yield alfred


@pytest.fixture(scope="session")
def admin_key(base_url: str) -> str:
    """The admin key, once the running gateway serves the admin API; else the admin tests skip."""
    status = httpx.get(base_url + "/admin/openapi.json", timeout=10).status_code
    if status != 200:
        pytest.skip("admin API not wired")
    key = os.environ.get("ALFRED_ADMIN_KEY") or os.environ.get("ALFRED_API_KEY")
    if not key:
        pytest.skip("no ALFRED_ADMIN_KEY / ALFRED_API_KEY for the admin API")
    return key
