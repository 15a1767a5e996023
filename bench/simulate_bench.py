"""How long `alfred simulate` takes for a month of the seed's load.

Run: .venv/bin/python bench/simulate_bench.py [--days 30] [--profile seed] [--jobs N] [--all-policies]

Measures, on the seed profile and examples/images.yaml: building the request stream (arrival times
and the pipeline's own cache keys, the keys in ``--jobs`` processes), then one policy's 30-day run
(the configured queue-depth:50), and with --all-policies the command's whole default comparison
as ``alfred simulate --days 30`` runs it (stream included, policies in ``--jobs`` processes).
Wall and CPU time are both given, CPU including the worker processes: on a shared machine wall time
includes waiting for a core, so compare runs made back to back. Exits 1 when the one-policy month
(stream + run) takes 10 s or more of CPU. The whole default comparison's target (issue #11) is under
10 s of wall time on two otherwise idle cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
from pathlib import Path

from alfred.simulate.comparison import build_arrivals, load_config, run_policy, study_images
from alfred.simulate.hardware import load_hardware
from alfred.simulate.parallel import usable_cpus
from alfred.simulate.policies import DEFAULT_THRESHOLDS, default_variants
from alfred.simulate.profiles import load_profile
from alfred.simulate.report import summarise

BUDGET_S = 10.0
COMPARISON_TARGET_S = 10.0  # wall, the whole default comparison on two cores (issue #11)


def cpu_seconds() -> float:
    """CPU time of this process and of the worker processes it has waited for."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Timer:
    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = cpu_seconds() - self.cpu


def main(days: float, profile_name: str, jobs: int, all_policies: bool) -> int:
    settings = load_config(Path("examples/images.yaml"))
    profile = load_profile(profile_name)
    assert profile.images is not None
    hardware = load_hardware(profile.hardware)
    variants = default_variants(settings.images.router, DEFAULT_THRESHOLDS)
    print(f"{usable_cpus()} usable CPUs, {jobs} jobs, load average {os.getloadavg()[0]:.1f}")
    with Timer() as stream:
        arrivals = build_arrivals(settings.images, profile.images, days, profile.seed, jobs=jobs)
    print(f"request stream: {len(arrivals):,} requests over {days:g} days ({arrivals.distinct:,} distinct)")
    print(f"  built in {stream.wall:.2f} s wall, {stream.cpu:.2f} s CPU")
    with Timer() as one:
        run = asyncio.run(
            run_policy(settings.images, arrivals, variants[0], hardware, days, seed=profile.seed)
        )
        report = summarise(variants[0], run, arrivals.times, arrivals.n, days)
    print(
        f"  {report.name:<20} {one.wall:6.2f} s wall {one.cpu:6.2f} s CPU   "
        f"p95 {report.p95_s:8.1f} s   ${report.cost_per_month_usd:.2f}/month"
    )
    one_cpu = stream.cpu + one.cpu
    print(
        f"one policy, {days:g} days, stream included: {stream.wall + one.wall:.2f} s wall, "
        f"{one_cpu:.2f} s CPU (budget {BUDGET_S:g} s)"
    )
    if all_policies:
        with Timer() as everything:
            study = study_images(settings, profile.images, variants, hardware, days, profile.seed, jobs=jobs)
        for r in study.reports:
            print(f"  {r.name:<20} p95 {r.p95_s:10.1f} s   ${r.cost_per_month_usd:.2f}/month")
        print(
            f"all {len(study.reports)} default policies, stream included, {jobs} jobs: "
            f"{everything.wall:.2f} s wall, {everything.cpu:.2f} s CPU, load average {os.getloadavg()[0]:.1f} "
            f"(target {COMPARISON_TARGET_S:g} s wall)"
        )
    return 0 if one_cpu < BUDGET_S else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--profile", default="seed")
    parser.add_argument("--jobs", type=int, default=usable_cpus(), help="processes (default: usable CPUs)")
    parser.add_argument("--all-policies", action="store_true")
    args = parser.parse_args()
    sys.exit(main(args.days, args.profile, max(1, args.jobs), args.all_policies))
