"""`alfred worker` serves its own GET /metrics: the jobs it finished and its queues' depth."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.images.test_worker_command import CONFIG
from tests.servers import ROOT, free_port, gateway, mock_upstream, wait_http


def sample(body: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return None


def test_the_worker_counts_the_jobs_it_finishes_on_its_metrics_port(tmp_path: Path) -> None:
    prefix = f"alfred-test-{uuid.uuid4().hex[:8]}:"
    files = tmp_path / "files"
    port = free_port()
    gateway_config, worker_config = tmp_path / "gateway.yaml", tmp_path / "worker.yaml"
    gateway_config.write_text(CONFIG.format(prefix=prefix, files=files, embedded="false"))
    worker_config.write_text(
        CONFIG.format(prefix=prefix, files=files, embedded=f"true, metrics_port: {port}")
    )
    with mock_upstream() as mock_url, gateway(str(gateway_config), env={"ALFRED_MOCK_URL": mock_url}) as url:
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
            metrics_url = f"http://127.0.0.1:{port}/metrics"
            wait_http(metrics_url, deadline_s=30, proc=worker)
            submitted = httpx.post(
                f"{url}/v1/images/generations",
                json={"model": "sdxl", "prompt": "a bronze axe", "wait": 0},
                timeout=10,
            )
            assert submitted.status_code == 202, submitted.text
            job_id = submitted.json()["id"]
            deadline = time.monotonic() + 30
            done = None
            while time.monotonic() < deadline:
                body = httpx.get(metrics_url, timeout=5).text
                done = sample(body, "alfred_image_jobs_total", route="primary", outcome="ok")
                if done:
                    break
                time.sleep(0.1)
            assert done == 1
            assert httpx.get(f"{url}/v1/images/jobs/{job_id}", timeout=5).json()["status"] == "succeeded"
            assert sample(body, "alfred_image_generation_seconds_count", route="primary") == 1
            assert sample(body, "alfred_image_queue_depth", pool="sdxl.primary") is not None
            assert httpx.get(f"http://127.0.0.1:{port}/other", timeout=5).status_code == 404
            assert httpx.post(metrics_url, timeout=5).status_code == 405
        finally:
            worker.terminate()
            assert worker.wait(timeout=20) == 0
