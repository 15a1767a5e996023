"""How long `alfred simulate` takes for a month of the seed's load.

Run: .venv/bin/python bench/simulate_bench.py [--days 30] [--profile seed] [--all-policies]

Measures, on the seed profile and examples/images.yaml: building the request stream (arrival times
and the pipeline's own cache keys), then one policy's 30-day run (the configured queue-depth:50),
and with --all-policies the command's whole default comparison. Wall and CPU time are both given:
on a shared machine wall time includes waiting for a core. Exits 1 when the one-policy month
(stream + run) takes 10 s or more of CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from alfred.simulate.comparison import build_arrivals, load_config, run_policy
from alfred.simulate.hardware import load_hardware
from alfred.simulate.policies import DEFAULT_THRESHOLDS, default_variants
from alfred.simulate.profiles import load_profile
from alfred.simulate.report import summarise

BUDGET_S = 10.0


class Timer:
    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def main(days: float, profile_name: str, all_policies: bool) -> int:
    settings = load_config(Path("examples/images.yaml"))
    profile = load_profile(profile_name)
    assert profile.images is not None
    hardware = load_hardware(profile.hardware)
    variants = default_variants(settings.images.router, DEFAULT_THRESHOLDS)
    with Timer() as stream:
        arrivals = build_arrivals(settings.images, profile.images, days, profile.seed)
    print(f"request stream: {len(arrivals):,} requests over {days:g} days ({arrivals.distinct:,} distinct)")
    print(f"  built in {stream.wall:.2f} s wall, {stream.cpu:.2f} s CPU")
    rows = []
    for variant in variants if all_policies else variants[:1]:
        with Timer() as run_time:
            run = asyncio.run(
                run_policy(settings.images, arrivals, variant, hardware, days, seed=profile.seed)
            )
            report = summarise(variant, run, arrivals.times, arrivals.n, days)
        rows.append((variant.name, run_time, report.p95_s, report.cost_per_month_usd))
        print(
            f"  {variant.name:<20} {run_time.wall:6.2f} s wall {run_time.cpu:6.2f} s CPU   "
            f"p95 {report.p95_s:8.1f} s   ${report.cost_per_month_usd:.2f}/month"
        )
    one_wall = stream.wall + rows[0][1].wall
    one_cpu = stream.cpu + rows[0][1].cpu
    print(
        f"one policy, {days:g} days, stream included: {one_wall:.2f} s wall, {one_cpu:.2f} s CPU (budget {BUDGET_S:g} s)"
    )
    if all_policies:
        total_wall = stream.wall + sum(r[1].wall for r in rows)
        total_cpu = stream.cpu + sum(r[1].cpu for r in rows)
        print(f"all {len(rows)} default policies: {total_wall:.2f} s wall, {total_cpu:.2f} s CPU")
    return 0 if one_cpu < BUDGET_S else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--profile", default="seed")
    parser.add_argument("--all-policies", action="store_true")
    args = parser.parse_args()
    sys.exit(main(args.days, args.profile, args.all_policies))
