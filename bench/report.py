"""Write docs/benchmarks.md (and its plot) from a result: ``python -m bench.report [RESULT.json]``.

The default result is bench/results/latest.json. The page is generated whole; prose that is not a
figure (profiles, choices made) lives in bench/notes.md and is included as it stands.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench import derive
from bench.servers import ROOT
from bench.targets_check import streaming_rows, verdicts

DOC = ROOT / "docs" / "benchmarks.md"
PLOT = ROOT / "docs" / "benchmarks" / "latency-vs-throughput.png"
NOTES = ROOT / "bench" / "notes.md"
LATEST = ROOT / "bench" / "results" / "latest.json"


def fmt(spread: Mapping[str, float] | None, digits: int = 2) -> str:
    """``median [min, max]``, or a dash for a figure not measured."""
    if not spread:
        return "-"
    m, lo, hi = spread["median"], spread["min"], spread["max"]
    if lo == hi:
        return f"{m:,.{digits}f}"
    return f"{m:,.{digits}f} [{lo:,.{digits}f}, {hi:,.{digits}f}]"


def num(value: float | None, digits: int = 2, suffix: str = "") -> str:
    return "-" if value is None else f"{value:,.{digits}f}{suffix}"


def load_table(rows: list[dict[str, Any]], scenario: str) -> list[str]:
    """One markdown table of a load scenario, with ratios against the bare proxy and LiteLLM."""
    mine = [r for r in rows if r["scenario"] == scenario]
    lines = [
        "| target | c | RPS | p50 ms | p99 ms | added p50 ms | CPU ms/req | ÷ bare | ÷ LiteLLM | errors |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in sorted(mine, key=lambda r: r["concurrency"]):
        c = row["concurrency"]
        rps = derive.median(row, "rps")
        bare_label = "bare (2 KB)" if row["body"] == "2kb" else "bare"
        bare = derive.median(derive.find(rows, scenario, bare_label, c), "rps")
        litellm = derive.median(derive.find(rows, "passthrough", "litellm", c), "rps")
        lines.append(
            f"| {row['label']} | {c} | {fmt(row['rps'], 0)} | {fmt(row['p50_ms'], 3)} | {fmt(row['p99_ms'], 2)} "
            f"| {num(row.get('added_p50_ms'), 3)} | {fmt(row['cpu_ms_per_req'], 3)} "
            f"| {num(derive.ratio(rps, bare), 2)} | {num(derive.ratio(rps, litellm), 1)} | {row['errors']} |"
        )
    return lines


def stream_table(samples: Sequence[Mapping[str, Any]]) -> list[str]:
    rows = streaming_rows(samples)
    direct = next((r for r in rows if r["label"] == "direct"), None)
    lines = [
        "| target | streams | TTFB p50 ms | TTFB p99 ms | added TTFB p50 ms | gap p50 ms | gap p99 ms | whole stream p50 ms | chunks |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        added = None
        if direct and row["label"] != "direct" and row["ttfb_p50_ms"] and direct["ttfb_p50_ms"]:
            added = row["ttfb_p50_ms"]["median"] - direct["ttfb_p50_ms"]["median"]
        lines.append(
            f"| {row['label']} | {row['streams']} | {fmt(row['ttfb_p50_ms'], 3)} | {fmt(row['ttfb_p99_ms'], 2)} "
            f"| {num(added, 3)} | {fmt(row['gap_p50_ms'], 3)} | {fmt(row['gap_p99_ms'], 2)} "
            f"| {fmt(row['total_p50_ms'], 1)} | {fmt(row['chunks_p50'], 0)} |"
        )
    return lines


def memory_table(memory: Mapping[str, Any]) -> list[str]:
    lines = [
        "| server | requests | errors | RSS after warm-up MB | RSS at the end MB | growth MB | per process at the end MB |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for label, soak in memory.items():
        per_process = ", ".join(f"{v:.1f}" for v in soak["series"][-1]["rss_mb"])
        done = "" if soak["complete"] else " (time cap)"
        lines.append(
            f"| {label} | {soak['requests']:,}{done} | {soak['errors']} | {soak['rss_start_mb']:.1f} "
            f"| {soak['rss_end_mb']:.1f} | {soak['rss_growth_mb']:+.1f} | {per_process} |"
        )
    return lines


def cold_table(cold: Mapping[str, list[float]]) -> list[str]:
    lines = ["| server | runs | median s | min s | max s |", "|---|--:|--:|--:|--:|"]
    for label, runs in cold.items():
        ordered = sorted(runs)
        lines.append(
            f"| {label} | {len(runs)} | {ordered[len(runs) // 2]:.2f} | {ordered[0]:.2f} | {ordered[-1]:.2f} |"
        )
    return lines


def plot(rows: list[dict[str, Any]], path: Path) -> str | None:
    """Latency (p50) against throughput for each server at c=1/32/128; None, or why it was not drawn."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed, so no plot was drawn"
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for label in ("direct", "bare", "alfred", "litellm"):
        points = sorted(
            (r["rps"]["median"], r["p50_ms"]["median"], r["concurrency"])
            for r in rows
            if r["scenario"] == "passthrough" and r["label"] == label and r["rps"] and r["p50_ms"]
        )
        if not points:
            continue
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
        for x, y, c in points:
            ax.annotate(f"c={c}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("throughput (requests/s, median)")
    ax.set_ylabel("latency p50 (ms, median)")
    ax.set_title("Non-streaming chat, one core per server")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return None


def render(result: Mapping[str, Any], plot_note: str | None, notes: str) -> str:
    rows: list[dict[str, Any]] = result.get("rows", [])
    machine, versions = result.get("machine", {}), result.get("versions", {})
    sizes = result.get("sizes", {})
    out = [
        "# Benchmarks",
        "",
        "<!-- Generated by `python -m bench.report` from bench/results/latest.json; edit bench/notes.md or the harness, not this file. -->",
        "",
        "Alfred side by side with the upstream alone (nginx, fixed reply), a bare pass-through proxy (raw ASGI on "
        "uvicorn + one aiohttp session: the Python floor) and LiteLLM's proxy, in one run on one machine. Each server "
        "runs on core 1 (`taskset`), wrk and the upstreams on core 0. Every figure is the median of the rounds, with "
        "min and max in brackets; ratios come from the same run.",
        "",
        "Run it: `make bench` (full, then this page), `make bench-smoke` (CI: a few seconds per scenario, fails only "
        "when Alfred ÷ bare throughput drops more than 30% from the committed baseline), `make bench-compare` "
        "(ratio changes of the newest run against the committed bench/results/latest.json).",
        "",
        "## Against the targets (issue 8)",
        "",
        "| target | measured | verdict |",
        "|---|--:|---|",
    ]
    for v in verdicts(result):
        verdict = "not measured" if v.met is None else ("met" if v.met else "**not met**")
        out.append(f"| {v.target} | {v.measured} | {verdict} |")
    out += ["", "## Run", ""]
    out += [
        f"- Date: {result.get('started')} to {result.get('finished')} (UTC), mode `{result.get('mode')}`, "
        f"{sizes.get('duration_s')} s per measurement, {sizes.get('repeat')} rounds.",
        f"- Command: `{result.get('command')}`",
        f"- Machine: {machine.get('cpu')}, {machine.get('cores')} cores, {machine.get('memory_gib')} GiB, "
        f"Linux {machine.get('kernel')}; load average at start {machine.get('load_avg_at_start')}.",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v),
        f"- Alfred's base install pulls in {result.get('base_dependencies', {}).get('count')} distributions "
        "(transitively, no extras).",
    ]
    for name, why in result.get("skipped", {}).items():
        out.append(f"- Left out: **{name}** - {why}")
    if plot_note:
        out.append(f"- {plot_note}")
    out += ["", "## 1. Non-streaming chat: latency (c=1) and throughput (c=32, 128)", ""]
    out += load_table(rows, "passthrough")
    if not plot_note:
        out += ["", "![latency vs throughput](benchmarks/latency-vs-throughput.png)"]
    out += ["", "## 2. Streaming chat, 50 chunks paced 1 ms apart by the upstream (one stream at a time)", ""]
    out += stream_table(result.get("streaming", []))
    out += ["", "## 3. Alfred with one feature on at a time", ""]
    out += load_table(rows, "features")
    out += ["", "## 4. Resident memory over a soak (c=32)", ""]
    out += memory_table(result.get("memory", {}))
    out += ["", "## 5. Two workers against one (both unpinned; wrk shares core 0)", ""]
    out += load_table(rows, "scaling")
    out += ["", "## Cold start (exec to the first answer from the health URL)", ""]
    out += cold_table(result.get("cold_start_s", {}))
    out += ["", "## Ratios", "", "| ratio | value |", "|---|--:|"]
    out += [f"| {k} | {num(v, 3)} |" for k, v in result.get("ratios", {}).items()]
    if notes.strip():
        out += ["", notes.strip()]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("result", nargs="?", type=Path, default=LATEST)
    parser.add_argument("--doc", type=Path, default=DOC)
    parser.add_argument("--plot", type=Path, default=PLOT)
    args = parser.parse_args(argv)
    result = json.loads(args.result.read_text())
    plot_note = plot(result.get("rows", []), args.plot)
    notes = NOTES.read_text() if NOTES.exists() else ""
    args.doc.write_text(render(result, plot_note, notes))
    print(f"wrote {args.doc}" + ("" if plot_note else f" and {args.plot}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
