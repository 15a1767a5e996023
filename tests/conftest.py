from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from tests.servers import gateway, mock_upstream

MASTER_KEY = "sk-alfred-test-master"


@pytest.fixture(scope="session")
def mock_url() -> Iterator[str]:
    with mock_upstream() as url:
        yield url


@pytest.fixture(scope="session")
def gateway_url(mock_url: str) -> Iterator[str]:
    # Fault-injection tests share this gateway: its breakers stay closed so one test's faults never
    # open a circuit under the next test. Breaker behaviour has its own gateways (test_breaker_*).
    env = {
        "ALFRED_MOCK_URL": mock_url,
        "ALFRED_MASTER_KEY": MASTER_KEY,
        "ALFRED_ROUTING__BREAKER__ENABLED": "false",
    }
    with gateway("examples/mock.yaml", env=env) as url:
        yield url


@pytest.fixture
def mock_control(mock_url: str) -> Iterator[httpx.Client]:
    """A client for the mock's control API; faults are cleared after each test."""
    with httpx.Client(base_url=mock_url, timeout=10) as client:
        yield client
        client.delete("/mock/faults")


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
