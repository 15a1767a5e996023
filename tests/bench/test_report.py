"""The report page, the target verdicts and `bench.compare`, on a small hand-made result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from bench.targets_check import streaming_rows, verdicts

from bench import compare, derive, report


def row_sample(
    scenario: str, label: str, target: str, c: int, rps: float, p50: float, cpu: float, body: str = "small"
) -> dict[str, Any]:
    return {
        "scenario": scenario,
        "label": label,
        "target": target,
        "body": body,
        "concurrency": c,
        "rps": rps,
        "p50_ms": p50,
        "p99_ms": p50 * 4,
        "cpu_ms_per_req": cpu,
        "requests": 1000,
        "errors": 0,
    }


def make_result(alfred_rps: float = 800.0) -> dict[str, Any]:
    samples = [
        row_sample("passthrough", "direct", "direct", 1, 20000, 0.05, 0.01),
        row_sample("passthrough", "bare", "bare", 1, 1800, 0.50, 0.5),
        row_sample("passthrough", "alfred", "alfred", 1, 1500, 0.65, 0.6),
        row_sample("passthrough", "direct", "direct", 32, 40000, 0.4, 0.01),
        row_sample("passthrough", "bare", "bare", 32, 1000, 30, 0.9),
        row_sample("passthrough", "alfred", "alfred", 32, alfred_rps, 40, 1.2),
        row_sample("passthrough", "litellm", "litellm", 32, 20, 900, 40),
        row_sample("features", "alfred + exact cache, hit", "alfred-cache", 32, 2000, 12, 0.4),
        row_sample("features", "alfred + exact cache, miss", "alfred-cache", 32, 700, 40, 1.3, body="unique"),
    ]
    rows = derive.aggregate(samples)
    derive.added_latency(rows)
    stream = [
        {
            "label": "direct",
            "streams": 10,
            "errors": 0,
            "ttfb_p50_ms": 2.0,
            "ttfb_p99_ms": 3.0,
            "gap_p50_ms": 1.1,
            "gap_p99_ms": 2.0,
            "total_p50_ms": 60.0,
            "chunks_p50": 50,
        },
        {
            "label": "alfred",
            "streams": 10,
            "errors": 0,
            "ttfb_p50_ms": 2.6,
            "ttfb_p99_ms": 4.0,
            "gap_p50_ms": 1.1,
            "gap_p99_ms": 2.5,
            "total_p50_ms": 61.0,
            "chunks_p50": 50,
        },
    ]
    soak = {
        "requests": 100000,
        "errors": 0,
        "complete": True,
        "rss_start_mb": 70.0,
        "rss_end_mb": 71.0,
        "rss_growth_mb": 1.0,
        "series": [{"requests": 0, "rss_mb": [70.0]}, {"requests": 100000, "rss_mb": [71.0]}],
    }
    return {
        "mode": "full",
        "started": "2026-01-01T00:00:00+00:00",
        "finished": "2026-01-01T00:30:00+00:00",
        "command": "python -m bench.run",
        "sizes": {"duration_s": 8, "repeat": 3},
        "machine": {"cpu": "test"},
        "versions": {"python": "3.11"},
        "base_dependencies": {"count": 40},
        "skipped": {"alfred-governance": "governance is not wired"},
        "samples": samples,
        "rows": rows,
        "ratios": derive.ratios(rows),
        "streaming": stream,
        "memory": {"alfred": soak},
        "cold_start_s": {"alfred": [1.2, 1.0, 1.4]},
    }


def test_verdicts_judge_each_target_from_the_figures() -> None:
    by = {v.target: v for v in verdicts(make_result())}
    passthrough = by["pass-through throughput ≥ 75% of the bare proxy (c=32)"]
    assert (passthrough.measured, passthrough.met) == ("80%", True)
    assert by["pass-through added latency at c=1 < 1 ms p50"].met is True  # 0.65 - 0.05
    assert by["exact cache hit ≥ 2x a cache miss (c=32)"].measured == "2.86x"
    assert by["streaming time to first byte within 1 ms of the upstream's (p50)"].measured == "0.600 ms"
    assert (
        by["full governance throughput ≥ 50% of the bare proxy (c=32)"].met is None
    )  # skipped: not measured
    assert by["cold start to ready < 1.5 s (median)"].measured == "1.20 s"
    slow = {v.target: v for v in verdicts(make_result(alfred_rps=500))}
    assert slow["pass-through throughput ≥ 75% of the bare proxy (c=32)"].met is False


def test_streaming_rows_take_medians_across_rounds() -> None:
    samples = make_result()["streaming"] + [dict(make_result()["streaming"][1], ttfb_p50_ms=3.0)]
    alfred = next(r for r in streaming_rows(samples) if r["label"] == "alfred")
    assert alfred["ttfb_p50_ms"] == {"median": 2.8, "min": 2.6, "max": 3.0}
    assert alfred["streams"] == 20


def test_render_has_a_table_per_scenario_ratios_and_skips(tmp_path: Path) -> None:
    page = report.render(make_result(), None, "## Notes\n\nby hand")
    for heading in (
        "## 1. Non-streaming",
        "## 2. Streaming",
        "## 3. Alfred with one feature",
        "## 4. Resident memory",
        "## 5. Two workers",
        "## Cold start",
        "## Ratios",
        "## Notes",
    ):
        assert heading in page
    assert "| alfred | 32 | 800 | 40.000 | 160.00 | 39.600 | 1.200 | 0.80 | 40.0 | 0 |" in page
    assert "**alfred-governance** - governance is not wired" in page
    assert "latency-vs-throughput.png" in page
    assert "matplotlib is not installed" in report.render(make_result(), "matplotlib is not installed", "")


def test_plot_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    target = tmp_path / "plot.png"
    assert report.plot(make_result()["rows"], target) is None
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_prints_changes_and_gates_on_the_bare_ratio(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline, ok, bad = tmp_path / "base.json", tmp_path / "ok.json", tmp_path / "bad.json"
    baseline.write_text(json.dumps(make_result()))
    ok.write_text(json.dumps(make_result(alfred_rps=700)))  # 0.8 → 0.7: -12.5%, noise
    bad.write_text(json.dumps(make_result(alfred_rps=500)))  # 0.8 → 0.5: -37.5%
    assert compare.main(["--current", str(ok), "--baseline", str(baseline), "--gate"]) == 0
    out = capsys.readouterr().out
    assert "alfred/bare rps c=32" in out and "-12.5%" in out
    assert compare.main(["--current", str(bad), "--baseline", str(baseline), "--gate"]) == 1
    assert "REGRESSION" in capsys.readouterr().out
    assert compare.main(["--current", str(bad), "--baseline", str(baseline)]) == 0  # no gate: just prints
