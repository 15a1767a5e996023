"""From raw samples to table rows and the ratios the targets speak of (pure functions, no I/O)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from bench.stats import spread

FIGURES = ("rps", "p50_ms", "p99_ms", "cpu_ms_per_req")


def aggregate(samples: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Group samples by (scenario, label, concurrency); each figure becomes its median, min and max."""
    groups: dict[tuple[str, str, int], list[Mapping[str, Any]]] = defaultdict(list)
    meta: dict[tuple[str, str, int], Mapping[str, Any]] = {}
    for sample in samples:
        key = (sample["scenario"], sample["label"], int(sample["concurrency"]))
        groups[key].append(sample)
        meta.setdefault(key, sample)
    rows = []
    for key, group in groups.items():
        row: dict[str, Any] = {
            "scenario": key[0],
            "label": key[1],
            "concurrency": key[2],
            "target": meta[key]["target"],
            "body": meta[key]["body"],
            "runs": len(group),
            "requests": sum(int(s["requests"]) for s in group),
            "errors": sum(int(s["errors"]) for s in group),
        }
        for figure in FIGURES:
            values = [float(s[figure]) for s in group if s.get(figure) is not None]
            row[figure] = spread(values) if values else None
        rows.append(row)
    return rows


def find(
    rows: Iterable[Mapping[str, Any]], scenario: str, label: str, concurrency: int
) -> Mapping[str, Any] | None:
    for row in rows:
        if row["scenario"] == scenario and row["label"] == label and row["concurrency"] == concurrency:
            return row
    return None


def median(row: Mapping[str, Any] | None, figure: str) -> float | None:
    if row is None or row.get(figure) is None:
        return None
    return float(row[figure]["median"])


def added_latency(rows: list[dict[str, Any]]) -> None:
    """Set each row's ``added_p50_ms``: its p50 minus the direct upstream's, same scenario, concurrency, body."""
    for row in rows:
        if row["target"] == "direct":
            continue
        body = "2kb" if row["body"] == "2kb" else "small"
        direct = next(
            (
                r
                for r in rows
                if r["target"] == "direct"
                and r["scenario"] == row["scenario"]
                and r["concurrency"] == row["concurrency"]
                and r["body"] == body
            ),
            None,
        )
        mine, base = median(row, "p50_ms"), median(direct, "p50_ms")
        row["added_p50_ms"] = round(mine - base, 3) if mine is not None and base is not None else None


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 4) if a is not None and b else None


# (name, numerator (scenario, label, c), denominator, figure): the ratios the targets are stated in.
RATIOS: tuple[tuple[str, tuple[str, str, int], tuple[str, str, int], str], ...] = (
    ("alfred/bare rps c=32", ("passthrough", "alfred", 32), ("passthrough", "bare", 32), "rps"),
    ("alfred/bare rps c=128", ("passthrough", "alfred", 128), ("passthrough", "bare", 128), "rps"),
    ("alfred/litellm rps c=32", ("passthrough", "alfred", 32), ("passthrough", "litellm", 32), "rps"),
    ("alfred/litellm rps c=128", ("passthrough", "alfred", 128), ("passthrough", "litellm", 128), "rps"),
    ("bare/direct rps c=32", ("passthrough", "bare", 32), ("passthrough", "direct", 32), "rps"),
    (
        "governance/bare rps c=32",
        ("features", "alfred, full governance (SQLite)", 32),
        ("features", "bare", 32),
        "rps",
    ),
    (
        "governance/litellm rps c=32",
        ("features", "alfred, full governance (SQLite)", 32),
        ("passthrough", "litellm", 32),
        "rps",
    ),
    (
        "governance-pg/bare rps c=32",
        ("features", "alfred, full governance (PostgreSQL + Redis)", 32),
        ("features", "bare", 32),
        "rps",
    ),
    ("defaults/bare rps c=32", ("features", "alfred, shipped defaults", 32), ("features", "bare", 32), "rps"),
    (
        "cache hit/miss rps c=32",
        ("features", "alfred + exact cache, hit", 32),
        ("features", "alfred + exact cache, miss", 32),
        "rps",
    ),
    (
        "safety/alfred rps c=32 (2 KB)",
        ("features", "alfred + safety (2 KB)", 32),
        ("features", "alfred (2 KB)", 32),
        "rps",
    ),
)


# CPU per request, inverted (bottom's cost ÷ top's): throughput per core-second, which another process
# stealing the server's core cannot move, unlike requests per wall second on a shared machine.
CPU_RATIOS: tuple[tuple[str, tuple[str, str, int], tuple[str, str, int]], ...] = (
    ("alfred/bare per-cpu c=32", ("passthrough", "alfred", 32), ("passthrough", "bare", 32)),
    ("alfred/litellm per-cpu c=32", ("passthrough", "alfred", 32), ("passthrough", "litellm", 32)),
    (
        "governance/bare per-cpu c=32",
        ("features", "alfred, full governance (SQLite)", 32),
        ("features", "bare", 32),
    ),
)


def ratios(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    """Every named ratio whose two rows exist (None where either is missing)."""
    out: dict[str, float | None] = {}
    for name, top, bottom, figure in RATIOS:
        out[name] = ratio(median(find(rows, *top), figure), median(find(rows, *bottom), figure))
    for name, top, bottom in CPU_RATIOS:
        out[name] = ratio(
            median(find(rows, *bottom), "cpu_ms_per_req"), median(find(rows, *top), "cpu_ms_per_req")
        )
    return out


def ratio_changes(
    current: Mapping[str, float | None], baseline: Mapping[str, float | None]
) -> list[tuple[str, float | None, float | None, float | None]]:
    """(name, baseline, current, relative change) for every ratio either side knows."""
    out = []
    for name in sorted(set(current) | set(baseline)):
        now, then = current.get(name), baseline.get(name)
        change = round(now / then - 1, 4) if now is not None and then else None
        out.append((name, then, now, change))
    return out


def regression(
    current: Mapping[str, float | None], baseline: Mapping[str, float | None], *, name: str, max_drop: float
) -> str | None:
    """Why the gate fails (``name`` fell by more than ``max_drop``, a fraction), or None when it holds."""
    now, then = current.get(name), baseline.get(name)
    if not then:
        return None  # no baseline to compare with: nothing to gate on
    if now is None:
        return f"{name} could not be measured in this run (the baseline has {then:.3f})"
    if now < then * (1 - max_drop):
        return f"{name} fell from {then:.3f} to {now:.3f} ({now / then - 1:+.0%}; the gate allows -{max_drop:.0%})"
    return None
