"""Run the side-by-side benchmark: ``python -m bench.run [--smoke] [--scenarios …] [--duration S] [--repeat N]``.

Starts every server on loopback (servers on core 1, wrk and the upstreams on core 0), runs each
scenario against every target, interleaved and repeated, and writes one JSON document:
bench/results/<date>.json and latest.json for a full run, bench/results/raw/smoke-<date>.json for
a smoke run. ``python -m bench.report`` turns the latest into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from bench import bodies, derive, measure, plan
from bench.environment import command_line, describe
from bench.fleet import FEATURE_CONFIGS, Fleet, start_fleet
from bench.servers import ROOT
from bench.targets import Upstreams, start_alfred, start_bare, start_litellm

RESULTS = ROOT / "bench" / "results"
T = TypeVar("T")
SCENARIOS = ("passthrough", "streaming", "features", "memory", "scaling", "cold_start")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def warm_up(fleet: Fleet, cases: list[plan.Case]) -> None:
    done: set[tuple[str, str]] = set()
    for case in cases:
        if (case.target, case.body) in done:
            continue
        done.add((case.target, case.body))
        load = measure.load_for(fleet, case.target, case.text, unique=case.unique)
        measure.wrk_sample(fleet, case.target, load, 8, 1.0)


def load_scenarios(fleet: Fleet, sizes: plan.Sizes, scenarios: set[str]) -> list[dict[str, Any]]:
    cases = [c for c in plan.load_cases(sizes, set(fleet.servers)) if c.scenario in scenarios]
    log(f"warming up {len({c.target for c in cases})} targets")
    warm_up(fleet, cases)
    samples = []
    for round_no in range(sizes.repeat):
        for case in plan.interleaved(cases, round_no):
            load = measure.load_for(fleet, case.target, case.text, unique=case.unique)
            sample = measure.wrk_sample(fleet, case.target, load, case.concurrency, sizes.duration_s)
            samples.append({**dataclasses.asdict(case), "round": round_no, **sample})
            log(
                f"{case.scenario:12} {case.label:34} c={case.concurrency:<4} {sample['rps']:>9.1f} rps  "
                f"p50 {sample['p50_ms']:.3f} ms  errors {sample['errors']}"
            )
    return samples


def streaming(fleet: Fleet, sizes: plan.Sizes) -> list[dict[str, Any]]:
    targets = [(label, target) for label, target in plan.STREAM_TARGETS if fleet.has(target)]
    samples = []
    for round_no in range(sizes.repeat):
        for label, target in plan.interleaved(targets, round_no):
            sample = measure.stream_sample(fleet, target, sizes.duration_s)
            samples.append({"label": label, "target": target, "round": round_no, **sample})
            log(
                f"streaming    {label:34} ttfb p50 {sample['ttfb_p50_ms']:.3f} ms  gap p50 {sample['gap_p50_ms']:.3f} ms"
            )
    return samples


def memory(fleet: Fleet, sizes: plan.Sizes) -> dict[str, Any]:
    soaks = (
        ("alfred", "alfred", bodies.SMALL, False),
        ("alfred + exact cache, new prompt each", "alfred-cache", bodies.UNIQUE, True),
        ("alfred, full governance (SQLite), new prompt each", "alfred-governance", bodies.UNIQUE, True),
        ("bare", "bare", bodies.SMALL, False),
        ("litellm", "litellm", bodies.SMALL, False),
    )
    out = {}
    for label, target, body, unique in soaks:
        if not fleet.has(target):
            continue
        max_s = sizes.soak_max_s if target != "litellm" else min(sizes.soak_max_s, 60.0)
        load = measure.load_for(fleet, target, body, unique=unique)
        segment = max(sizes.duration_s, max_s / 10)
        out[label] = measure.soak(
            fleet, target, load, total_requests=sizes.soak_requests, segment_s=segment, max_s=max_s
        )
        log(
            f"memory       {label:34} {out[label]['requests']} requests, RSS {out[label]['rss_start_mb']} → {out[label]['rss_end_mb']} MB"
        )
    return out


def scaling(fleet: Fleet, sizes: plan.Sizes) -> list[dict[str, Any]]:
    upstreams = Upstreams(fleet.servers["direct"].url, fleet.servers["direct-stream"].url)
    for workers in (1, 2):
        name = f"alfred-{workers}w"
        fleet.servers[name] = start_alfred(
            name, "passthrough", upstreams, fleet.workdir, fleet.logs, workers=workers, cores=None
        )
    samples = []
    try:
        for name in ("alfred-1w", "alfred-2w"):
            measure.wrk_sample(fleet, name, measure.load_for(fleet, name, bodies.SMALL), 32, 1.0)
        for round_no in range(sizes.repeat):
            for c in (32, 128):
                for name in ("alfred-1w", "alfred-2w"):
                    sample = measure.wrk_sample(
                        fleet, name, measure.load_for(fleet, name, bodies.SMALL), c, sizes.duration_s
                    )
                    label = "1 worker" if name == "alfred-1w" else "2 workers"
                    samples.append(
                        {
                            "scenario": "scaling",
                            "label": label,
                            "target": name,
                            "body": "small",
                            "concurrency": c,
                            "round": round_no,
                            **sample,
                        }
                    )
                    log(f"scaling      {label:34} c={c:<4} {sample['rps']:>9.1f} rps")
    finally:
        for name in ("alfred-1w", "alfred-2w"):
            fleet.servers.pop(name).stop()
    return samples


def cold_starts(fleet: Fleet, sizes: plan.Sizes) -> dict[str, Any]:
    upstreams = Upstreams(fleet.servers["direct"].url, fleet.servers["direct-stream"].url)
    starters = {
        "alfred": lambda: start_alfred("cold-alfred", "passthrough", upstreams, fleet.workdir, fleet.logs),
        "alfred, shipped defaults": lambda: start_alfred(
            "cold-defaults", "defaults", upstreams, fleet.workdir, fleet.logs
        ),
        "bare": lambda: start_bare("cold-bare", upstreams.fixed, fleet.logs),
    }
    if fleet.has("litellm"):
        starters["litellm"] = lambda: start_litellm(upstreams, fleet.workdir, fleet.logs)
    out: dict[str, Any] = {}
    for label, starter in starters.items():
        runs = sizes.cold_starts if label != "litellm" else min(sizes.cold_starts, 3)
        out[label] = [measure.cold_start(starter) for _ in range(runs)]
        log(f"cold start   {label:34} {out[label]} s")
    return out


def guarded(result: dict[str, Any], name: str, scenarios: set[str], run: Callable[[], T], empty: T) -> T:
    """Run one scenario when asked for; a server that will not start skips it, with the reason kept."""
    if name not in scenarios:
        return empty
    try:
        return run()
    except (RuntimeError, TimeoutError) as exc:
        result["skipped"][name] = f"failed: {exc}"
        log(f"skipped {name}: {exc}")
        return empty


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="a few seconds per scenario, no LiteLLM (CI)")
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"comma-separated from {', '.join(SCENARIOS)}"
    )
    parser.add_argument("--duration", type=float, help="seconds per measurement")
    parser.add_argument("--repeat", type=int, help="rounds of every measurement (the median is reported)")
    parser.add_argument("--requests", type=int, help="requests in the memory soak")
    parser.add_argument("--no-litellm", action="store_true", help="leave LiteLLM out")
    parser.add_argument("--out", type=Path, help="where to write the JSON (default: by mode)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = plan.SMOKE if args.smoke else plan.FULL
    overrides = {"duration_s": args.duration, "repeat": args.repeat, "soak_requests": args.requests}
    sizes = dataclasses.replace(sizes, **{k: v for k, v in overrides.items() if v is not None})
    scenarios = set(args.scenarios.split(","))
    unknown = scenarios - set(SCENARIOS)
    if unknown:
        print(
            f"unknown scenario(s): {', '.join(sorted(unknown))}; known: {', '.join(SCENARIOS)}",
            file=sys.stderr,
        )
        return 2
    started = dt.datetime.now(dt.UTC)
    result: dict[str, Any] = {
        "schema": 1,
        "mode": "smoke" if args.smoke else "full",
        "started": started.isoformat(timespec="seconds"),
        "command": command_line("bench.run", argv),
        "sizes": dataclasses.asdict(sizes),
        "scenarios": sorted(scenarios),
        **describe(),
    }
    with tempfile.TemporaryDirectory(prefix="alfred-bench-") as tmp:
        features = FEATURE_CONFIGS if "features" in scenarios or "memory" in scenarios else ()
        fleet = start_fleet(Path(tmp), litellm=not (args.smoke or args.no_litellm), features=features)
        try:
            result["startup_s"] = {name: round(s.ready_s, 3) for name, s in fleet.servers.items()}
            result["skipped"] = dict(fleet.skipped)
            for name, why in fleet.skipped.items():
                log(f"skipped {name}: {why}")
            samples = load_scenarios(fleet, sizes, scenarios & {"passthrough", "features"})
            none: list[dict[str, Any]] = []
            nothing: dict[str, Any] = {}
            result["streaming"] = guarded(
                result, "streaming", scenarios, lambda: streaming(fleet, sizes), none
            )
            result["memory"] = guarded(result, "memory", scenarios, lambda: memory(fleet, sizes), nothing)
            samples += guarded(result, "scaling", scenarios, lambda: scaling(fleet, sizes), none)
            result["cold_start_s"] = guarded(
                result, "cold_start", scenarios, lambda: cold_starts(fleet, sizes), nothing
            )
        finally:
            fleet.stop()
    rows = derive.aggregate(samples)
    derive.added_latency(rows)
    result.update(samples=samples, rows=rows, ratios=derive.ratios(rows))
    result["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    out = args.out or default_path(result["mode"], started)
    measure.write_json(out, result)
    if result["mode"] == "full" and args.out is None:
        measure.write_json(RESULTS / "latest.json", result)
    log(f"wrote {out}")
    for name, value in result["ratios"].items():
        if value is not None:
            log(f"ratio {name}: {value:.3f}")
    return 0


def default_path(mode: str, started: dt.datetime) -> Path:
    stamp = started.strftime("%Y-%m-%d")
    return RESULTS / (
        f"{stamp}.json" if mode == "full" else f"raw/smoke-{started.strftime('%Y%m%dT%H%M%S')}.json"
    )


if __name__ == "__main__":
    raise SystemExit(main())
