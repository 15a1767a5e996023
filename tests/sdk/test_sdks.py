"""The Python, Node and Go SDKs (sdk/) against a running Alfred.

One gateway on tests/sdk/sdk.yaml (the demo image model, demo-sdxl, needs no services) serves all three: the
Python SDK's tests run in this process (pytest.main), ``npm test`` in sdk/node and ``go test ./...`` in
sdk/go run as subprocesses, each with ALFRED_BASE_URL / ALFRED_API_KEY pointing at it. The admin
tests inside each suite skip with "admin API not wired" until the gateway serves /admin/openapi.json.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import ROOT, gateway

SDK = ROOT / "sdk"
CONFIG = "tests/sdk/sdk.yaml"
MASTER_KEY = "sk-alfred-sdk-tests-master"


@pytest.fixture(scope="module")
def alfred(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The running gateway, as the environment the SDK suites read."""
    database = tmp_path_factory.mktemp("sdk-ledger") / "ledger.db"
    env = {"ALFRED_MASTER_KEY": MASTER_KEY, "ALFRED_SDK_DB_URL": f"sqlite+aiosqlite:///{database}"}
    with gateway(CONFIG, env=env) as url:
        yield {"ALFRED_BASE_URL": url, "ALFRED_API_KEY": MASTER_KEY, "ALFRED_ADMIN_KEY": MASTER_KEY}


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float) -> str:
    proc = subprocess.run(
        args, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(args)} failed ({proc.returncode}):\n{output[-6000:]}"
    return output


def test_generated_types_match_their_openapi_snapshots() -> None:
    _run([sys.executable, str(SDK / "generate.py"), "--check"], ROOT, {}, 60)


def test_one_version_for_all_three() -> None:
    version = (SDK / "VERSION").read_text().strip()
    assert version == "0.1.0"
    assert json.loads((SDK / "node/package.json").read_text())["version"] == version
    assert f'version = "{version}"' in (SDK / "python/pyproject.toml").read_text()
    assert f'__version__ = "{version}"' in (SDK / "python/src/alfred_sdk/_version.py").read_text()
    assert f'const Version = "{version}"' in (SDK / "go/client.go").read_text()


def test_snapshot_matches_the_running_gateway(alfred: dict[str, str]) -> None:
    """The image schemas the SDKs were generated from are the ones the gateway serves."""
    response = httpx.get(alfred["ALFRED_BASE_URL"] + "/openapi.json", timeout=10)
    if response.status_code != 200:
        pytest.skip("the gateway does not serve /openapi.json yet")
    served = response.json()["components"]["schemas"]
    pinned = json.loads((SDK / "openapi/gateway.json").read_text())["components"]["schemas"]
    for name in ("ErrorObject", "ImageRequest", "ImagesResponse", "ImageJob"):
        assert served[name] == pinned[name], f"{name} drifted: run python sdk/generate.py --refresh URL"


def test_admin_snapshot_matches_the_admin_app() -> None:
    """The admin types the SDKs were generated from are the admin app's own (no server needed)."""
    admin = pytest.importorskip("alfred.api.admin", reason="admin API not in this build yet")
    build_admin_app = admin.build_admin_app

    served = build_admin_app(None).openapi()["components"]["schemas"]  # type: ignore[arg-type]
    pinned = json.loads((SDK / "openapi/admin.json").read_text())["components"]["schemas"]
    stale = sorted(name for name in served.keys() | pinned.keys() if served.get(name) != pinned.get(name))
    assert not stale, f"admin schemas drifted: {stale}; run python sdk/generate.py --admin-from-source"


def test_python_sdk(alfred: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in alfred.items():
        monkeypatch.setenv(name, value)
    python = SDK / "python"
    args = [
        str(python / "tests"),
        "-c",
        str(python / "pyproject.toml"),
        "--rootdir",
        str(python),
        "-q",
        "-p",
        "no:cacheprovider",
        "-rs",
    ]
    code = pytest.main(args)
    assert code == pytest.ExitCode.OK, f"the Python SDK's tests failed ({code!r})"


def test_node_sdk(alfred: dict[str, str]) -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed (apt-get install -y nodejs npm)")
    node = SDK / "node"
    if not (node / "node_modules/typescript").exists():
        _run([npm, "ci", "--no-audit", "--no-fund"], node, {}, 300)
    output = _run([npm, "test"], node, alfred, 300)
    assert "# fail 0" in output and "# pass " in output, output[-3000:]


def test_go_sdk(alfred: dict[str, str]) -> None:
    go = shutil.which("go")
    if go is None:
        pytest.skip("go is not installed (apt-get install -y golang-go)")
    output = _run([go, "test", "-count=1", "-v", "./..."], SDK / "go", alfred, 300)
    assert "--- FAIL" not in output and "\nok " in output, output[-3000:]
