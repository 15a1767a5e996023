"""The issue's targets, checked against one result document: measured figure and verdict for each."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench import derive
from bench.stats import spread


@dataclass(frozen=True)
class Verdict:
    """One target: what it asks, what was measured, and whether it holds (None: not measured)."""

    target: str
    measured: str
    met: bool | None


def streaming_rows(samples: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Streaming samples grouped by label: each figure's median/min/max across rounds."""
    labels = list(dict.fromkeys(s["label"] for s in samples))
    rows = []
    for label in labels:
        group = [s for s in samples if s["label"] == label]
        row: dict[str, Any] = {"label": label, "streams": sum(int(s["streams"]) for s in group)}
        row["errors"] = sum(int(s["errors"]) for s in group)
        for figure in (
            "ttfb_p50_ms",
            "ttfb_p99_ms",
            "gap_p50_ms",
            "gap_p99_ms",
            "total_p50_ms",
            "chunks_p50",
        ):
            values = [float(s[figure]) for s in group if s.get(figure) is not None]
            row[figure] = spread(values) if values else None
        rows.append(row)
    return rows


def _check(
    target: str, value: float | None, ok: Callable[[float], bool], text: Callable[[float], str]
) -> Verdict:
    if value is None:
        return Verdict(target, "not measured", None)
    return Verdict(target, text(value), ok(value))


def verdicts(result: Mapping[str, Any]) -> list[Verdict]:
    """Every target of issue 8 that this result can speak to."""
    rows: list[dict[str, Any]] = result.get("rows", [])
    ratios: Mapping[str, float | None] = result.get("ratios", {})
    alfred_c1 = derive.find(rows, "passthrough", "alfred", 1)
    gov_c1 = derive.find(rows, "features", "alfred, full governance (SQLite)", 1)
    stream = {r["label"]: r for r in streaming_rows(result.get("streaming", []))}
    ttfb_added = None
    if "alfred" in stream and "direct" in stream:
        ttfb_added = stream["alfred"]["ttfb_p50_ms"]["median"] - stream["direct"]["ttfb_p50_ms"]["median"]
    memory: Mapping[str, Any] = result.get("memory", {})
    soak = memory.get("alfred")
    rss_end = max(soak["series"][-1]["rss_mb"]) if soak and soak["series"][-1]["rss_mb"] else None
    cold = result.get("cold_start_s", {}).get("alfred")
    cold_median = sorted(cold)[len(cold) // 2] if cold else None
    pct = "{:.0%}".format
    ms = "{:.3f} ms".format
    return [
        _check(
            "pass-through throughput ≥ 75% of the bare proxy (c=32)",
            ratios.get("alfred/bare rps c=32"),
            lambda v: v >= 0.75,
            pct,
        ),
        _check(
            "the same, per CPU second (bare's CPU/request ÷ Alfred's)",
            ratios.get("alfred/bare per-cpu c=32"),
            lambda v: v >= 0.75,
            pct,
        ),
        _check(
            "pass-through added latency at c=1 < 1 ms p50",
            (alfred_c1 or {}).get("added_p50_ms"),
            lambda v: v < 1.0,
            ms,
        ),
        _check(
            "full governance throughput ≥ 50% of the bare proxy (c=32)",
            ratios.get("governance/bare rps c=32"),
            lambda v: v >= 0.5,
            pct,
        ),
        _check(
            "the same, per CPU second", ratios.get("governance/bare per-cpu c=32"), lambda v: v >= 0.5, pct
        ),
        _check(
            "full governance throughput ≥ 30x LiteLLM (c=32)",
            ratios.get("governance/litellm rps c=32"),
            lambda v: v >= 30,
            "{:.1f}x".format,
        ),
        _check(
            "full governance added latency < 1.5 ms p50 (c=1)",
            (gov_c1 or {}).get("added_p50_ms"),
            lambda v: v < 1.5,
            ms,
        ),
        _check(
            "exact cache hit ≥ 2x a cache miss (c=32)",
            ratios.get("cache hit/miss rps c=32"),
            lambda v: v >= 2,
            "{:.2f}x".format,
        ),
        _check(
            "streaming time to first byte within 1 ms of the upstream's (p50)",
            ttfb_added,
            lambda v: v <= 1.0,
            ms,
        ),
        _check(
            f"no memory growth over {soak['requests'] if soak else 'N'} requests (pass-through)",
            soak["rss_growth_mb"] if soak else None,
            lambda v: v <= 5.0,
            lambda v: f"{v:+.1f} MB",
        ),
        _check(
            "resident memory per process < 150 MB after the soak",
            rss_end,
            lambda v: v < 150,
            "{:.1f} MB".format,
        ),
        _check("cold start to ready < 1.5 s (median)", cold_median, lambda v: v < 1.5, "{:.2f} s".format),
    ]
