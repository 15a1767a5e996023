"""`alfred worker` as its own process: a gateway that only submits, a worker that only works, Redis between."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from tests.servers import ROOT, gateway, mock_upstream

CONFIG = """\
state: {{backend: redis, redis: {{key_prefix: "{prefix}"}}}}
storage: {{kind: local, root: "{files}"}}
images:
  workers: {{embedded: {embedded}}}
  queue: {{backend: redis, prefix: "{prefix}q:"}}
  jobs: {{backend: redis, prefix: "{prefix}j:"}}
  backends:
    space: {{kind: space, options: {{base_url: "${{ALFRED_MOCK_URL}}"}}}}
  models:
    - {{name: sdxl, primary: [space], size: 256x256, steps: 4}}
"""


def test_a_separate_worker_process_finishes_the_gateways_jobs(tmp_path: Path) -> None:
    prefix = f"alfred-test-{uuid.uuid4().hex[:8]}:"
    files = tmp_path / "files"
    gateway_config = tmp_path / "gateway.yaml"
    worker_config = tmp_path / "worker.yaml"
    gateway_config.write_text(CONFIG.format(prefix=prefix, files=files, embedded="false"))
    worker_config.write_text(CONFIG.format(prefix=prefix, files=files, embedded="true"))
    with mock_upstream() as mock_url, gateway(str(gateway_config), env={"ALFRED_MOCK_URL": mock_url}) as url:
        submitted = httpx.post(
            f"{url}/v1/images/generations",
            json={"model": "sdxl", "prompt": "a bronze axe", "wait": 0},
            timeout=10,
        )
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["id"]
        assert httpx.get(f"{url}/v1/images/jobs/{job_id}", timeout=5).json()["status"] in ("queued", "routed")
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "alfred",
                "worker",
                "--config",
                str(worker_config),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env={**os.environ, "ALFRED_MOCK_URL": mock_url},
        )
        try:
            deadline = time.monotonic() + 30
            status = "queued"
            while time.monotonic() < deadline:
                status = httpx.get(f"{url}/v1/images/jobs/{job_id}", timeout=5).json()["status"]
                if status in ("succeeded", "failed"):
                    break
                time.sleep(0.1)
            assert status == "succeeded"
        finally:
            worker.terminate()
            assert worker.wait(timeout=20) == 0
