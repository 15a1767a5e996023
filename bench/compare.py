"""Ratio changes between a run and the committed baseline: ``python -m bench.compare [--current F] [--gate]``.

The baseline is bench/results/latest.json as committed (``git show HEAD:…``; the working copy when
git has none). The current run defaults to the newest result file. With ``--gate`` the exit status
is 1 when Alfred ÷ bare throughput (c=32) fell by more than ``--max-drop`` (30%): a ratio from one
run, so machine speed cancels out; absolute times are never gated.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any

from bench import derive
from bench.servers import ROOT

RESULTS = ROOT / "bench" / "results"
BASELINE = RESULTS / "latest.json"
GATED = "alfred/bare rps c=32"


def committed_baseline(path: Path = BASELINE) -> dict[str, Any] | None:
    """The baseline as committed in git; the file on disk when git has no committed copy."""
    relative = path.relative_to(ROOT).as_posix()
    command = ["git", "show", f"HEAD:{relative}"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode == 0 and done.stdout.strip():
        data: dict[str, Any] = json.loads(done.stdout)
        return data
    return json.loads(path.read_text()) if path.exists() else None


def newest_result() -> Path | None:
    candidates = [p for p in RESULTS.glob("*.json") if p.name != "latest.json"]
    candidates += list((RESULTS / "raw").glob("*.json"))
    return max(candidates, key=lambda p: p.stat().st_mtime, default=None)


def table(changes: list[tuple[str, float | None, float | None, float | None]]) -> str:
    lines = [f"{'ratio':34} {'baseline':>10} {'current':>10} {'change':>8}"]
    for name, then, now, change in changes:
        cells = [f"{v:10.3f}" if v is not None else f"{'—':>10}" for v in (then, now)]
        delta = f"{change:+8.1%}" if change is not None else f"{'—':>8}"
        lines.append(f"{name:34} {cells[0]} {cells[1]} {delta}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--current", type=Path, help="a result JSON (default: the newest under bench/results)"
    )
    parser.add_argument("--baseline", type=Path, help="a result JSON (default: the committed latest.json)")
    parser.add_argument(
        "--gate", action="store_true", help=f"exit 1 when '{GATED}' fell by more than --max-drop"
    )
    parser.add_argument("--max-drop", type=float, default=0.30)
    args = parser.parse_args(argv)
    baseline = json.loads(args.baseline.read_text()) if args.baseline else committed_baseline()
    current_path = args.current or newest_result()
    if current_path is None:
        print("no result to compare: run `make bench` or `make bench-smoke` first")
        return 2
    current = json.loads(current_path.read_text())
    if baseline is None:
        print(
            f"no committed baseline ({BASELINE.relative_to(ROOT)}); nothing to compare {current_path.name} with"
        )
        return 0
    print(f"current:  {current_path} ({current.get('mode')}, {current.get('started')})")
    print(f"baseline: {baseline.get('mode')} run of {baseline.get('started')}")
    print(table(derive.ratio_changes(current.get("ratios", {}), baseline.get("ratios", {}))))
    if args.gate:
        failure = derive.regression(
            current.get("ratios", {}), baseline.get("ratios", {}), name=GATED, max_drop=args.max_drop
        )
        if failure:
            print(f"REGRESSION: {failure}")
            return 1
        print(f"gate: {GATED} within -{args.max_drop:.0%} of the baseline")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
