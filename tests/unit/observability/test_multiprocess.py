"""Several worker processes, one scrape: multiprocess mode over real processes and shared files."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from alfred.observability.merge import MultiprocessSetupError, multiprocess_dir
from alfred.observability.multiprocess import ENV, prepare_multiprocess
from alfred.observability.settings import MetricsSettings
from tests.servers import ROOT

WORKER = [sys.executable, "-m", "tests.unit.observability.mp_worker"]


def run(mode: str, directory: Path, n: int = 0, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, ENV: str(directory)}
    return subprocess.run(
        [*WORKER, mode, str(n)], cwd=ROOT, env=env, capture_output=True, text=True, check=check
    )


def scrape(directory: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(run("scrape", directory).stdout):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def total(samples: dict, name: str, **labels: str) -> float:
    return sum(
        v for (n, ls), v in samples.items() if n == name and all((k, x) in ls for k, x in labels.items())
    )


def test_a_scrape_sums_every_worker_and_forgets_dead_workers_in_flight(tmp_path: Path) -> None:
    prepare_multiprocess(MetricsSettings(multiprocess_dir=str(tmp_path)), workers=4, environ={})
    run("exit", tmp_path, 40)  # a worker that shut down cleanly
    crashed = run("crash", tmp_path, 20, check=False)  # one that died with a request in flight
    assert crashed.returncode == 1
    live = subprocess.Popen(
        [*WORKER, "serve", "12"], cwd=ROOT, env={**os.environ, ENV: str(tmp_path)},
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert live.stdout is not None and live.stdout.readline().startswith("ready")
        deadline = time.monotonic() + 15
        samples = scrape(tmp_path)
        # the live worker's numbers arrive with its tally's timed flush (within a second)
        while total(samples, "alfred_requests_total") < 72 and time.monotonic() < deadline:
            samples = scrape(tmp_path)
        assert total(samples, "alfred_requests_total") == 72
        assert total(samples, "alfred_requests_total", status="502") == 10 + 5 + 3
        assert total(samples, "alfred_tokens_total", direction="out") == 72 * 4
        assert total(samples, "alfred_cost_usd_total", team="team-a") == pytest.approx(36.0)
        assert (
            total(samples, "alfred_upstream_latency_seconds_count", deployment="gpt/openai/gpt-4o-mini") == 36
        )
        # in flight: only the live worker's request (the crashed one's is dropped, the clean one's removed)
        assert total(samples, "alfred_requests_in_flight", endpoint="chat") == 1
        assert total(samples, "alfred_breaker_state", state="open") == 1
    finally:
        assert live.stdin is not None
        live.stdin.write("stop\n")
        live.stdin.close()
        live.wait(timeout=10)
    after = scrape(tmp_path)
    assert total(after, "alfred_requests_in_flight", endpoint="chat") == 0
    assert total(after, "alfred_requests_total") == 72  # counters of gone workers stay


def test_prepare_empties_the_directory_and_exports_it(tmp_path: Path) -> None:
    stale = tmp_path / "counter_123.db"
    stale.write_bytes(b"old run")
    environ: dict[str, str] = {}
    assert prepare_multiprocess(
        MetricsSettings(multiprocess_dir=str(tmp_path)), workers=2, environ=environ
    ) == str(tmp_path)
    assert environ[ENV] == str(tmp_path) and not stale.exists()
    assert prepare_multiprocess(MetricsSettings(), workers=1, environ={}) is None
    made: dict[str, str] = {}
    path = prepare_multiprocess(MetricsSettings(), workers=3, environ=made)
    assert path is not None and Path(path).is_dir() and made[ENV] == path


def test_setting_the_directory_after_import_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # this test process imported prometheus_client without the variable: in-memory storage
    assert multiprocess_dir() is None
    monkeypatch.setenv(ENV, str(tmp_path))
    with pytest.raises(MultiprocessSetupError):
        multiprocess_dir()
