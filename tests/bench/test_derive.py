"""From samples to rows and ratios, and the smoke gate's decision."""

from __future__ import annotations

from typing import Any

import pytest
from bench.stats import percentile, spread

from bench import derive


def sample(
    label: str, target: str, rps: float, p50: float, *, c: int = 32, body: str = "small", cpu: float = 0.5
) -> dict[str, Any]:
    return {
        "scenario": "passthrough",
        "label": label,
        "target": target,
        "body": body,
        "concurrency": c,
        "rps": rps,
        "p50_ms": p50,
        "p99_ms": p50 * 3,
        "cpu_ms_per_req": cpu,
        "requests": int(rps),
        "errors": 0,
    }


def test_percentile_interpolates_and_spread_takes_the_median() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([5], 99) == 5
    assert spread([3.0, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0}
    with pytest.raises(ValueError):
        spread([])


def test_aggregate_groups_repeats_and_keeps_median_min_max() -> None:
    rows = derive.aggregate([sample("bare", "bare", r, 1.0) for r in (100.0, 300.0, 200.0)])
    assert len(rows) == 1
    assert rows[0]["rps"] == {"median": 200.0, "min": 100.0, "max": 300.0}
    assert rows[0]["runs"] == 3
    assert rows[0]["requests"] == 600


def test_added_latency_subtracts_the_direct_row_of_the_same_body_and_concurrency() -> None:
    rows = derive.aggregate(
        [
            sample("direct", "direct", 9000, 0.1, c=1),
            sample("alfred", "alfred", 900, 0.9, c=1),
            sample("direct (2 KB)", "direct", 9000, 0.3, c=1, body="2kb"),
            sample("alfred (2 KB)", "alfred", 800, 1.3, c=1, body="2kb"),
            sample("alfred", "alfred", 900, 5.0, c=32),  # no direct row at c=32
        ]
    )
    derive.added_latency(rows)
    by = {(r["label"], r["concurrency"]): r for r in rows}
    assert by[("alfred", 1)]["added_p50_ms"] == pytest.approx(0.8)
    assert by[("alfred (2 KB)", 1)]["added_p50_ms"] == pytest.approx(1.0)
    assert by[("alfred", 32)]["added_p50_ms"] is None
    assert "added_p50_ms" not in by[("direct", 1)]


def test_ratios_use_medians_and_leave_missing_rows_none() -> None:
    rows = derive.aggregate(
        [sample("alfred", "alfred", 750, 1, cpu=1.0), sample("bare", "bare", 1000, 1, cpu=0.8)]
    )
    out = derive.ratios(rows)
    assert out["alfred/bare rps c=32"] == 0.75
    assert out["alfred/bare per-cpu c=32"] == 0.8
    assert out["alfred/litellm rps c=32"] is None


def test_ratio_changes_pairs_both_sides() -> None:
    changes = derive.ratio_changes({"a": 0.6, "b": 2.0}, {"a": 0.75, "c": 1.0})
    assert changes == [("a", 0.75, 0.6, pytest.approx(-0.2)), ("b", None, 2.0, None), ("c", 1.0, None, None)]


def test_regression_gate_fails_only_beyond_the_allowed_drop() -> None:
    base = {"alfred/bare rps c=32": 0.60}
    name = "alfred/bare rps c=32"
    assert derive.regression({name: 0.43}, base, name=name, max_drop=0.3) is None  # -28%: noise
    failure = derive.regression({name: 0.40}, base, name=name, max_drop=0.3)
    assert failure is not None and "-33%" in failure
    assert derive.regression({name: None}, base, name=name, max_drop=0.3) is not None  # not measured fails
    assert derive.regression({name: 0.1}, {}, name=name, max_drop=0.3) is None  # no baseline: nothing to gate
