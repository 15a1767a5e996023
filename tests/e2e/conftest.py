"""A real gateway (examples/demo.yaml: built-in mock models and images) serving the console."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import MASTER_KEY
from tests.e2e.browser import chromium
from tests.servers import ROOT, free_port, gateway, wait_http


@pytest.fixture(scope="module")
def console_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {
        "ALFRED_MASTER_KEY": MASTER_KEY,
        "ALFRED_STORAGE__KIND": "local",
        "ALFRED_STORAGE__ROOT": str(tmp_path_factory.mktemp("files")),
        "ALFRED_CONFIG": str(ROOT / "examples/demo.yaml"),
    }
    env["ALFRED_GOVERNANCE__LEDGER__DATABASE_URL"] = (
        f"sqlite+aiosqlite:///{env['ALFRED_STORAGE__ROOT']}/ledger.db"
    )
    with gateway("examples/demo.yaml", env=env) as url:
        if httpx.get(f"{url}/console").status_code == 200:
            yield url
            return
    # app.py does not route /console yet: the same gateway with the console endpoint in front.
    yield from _gateway_with_console(env, tmp_path_factory.mktemp("console"))


def _gateway_with_console(env: dict[str, str], workdir: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ["-m", "uvicorn", "tests.e2e.console_app:create_app", "--factory", "--port", str(port)]
    args += ["--log-level", "warning"]
    log = (workdir / "gateway.log").open("wb")
    env = {**os.environ, **env, "ALFRED_SERVER__PORT": str(port)}  # image URLs name the public origin
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        wait_http(f"{url}/health/live", proc=proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as b:
        yield b
