"""Safety scan latency: the whole scan (PII + secrets + injection) of 2 KB prompts, p50 and p99.

Usage: .venv/bin/python bench/safety_bench.py [--iterations 20000] [--json]

Every detector is on (as with ``pii: mask``, ``secrets: block``, ``injection: log``), so this is the
most a scan costs. Prompt shapes, each exactly 2,048 characters: clean prose; prose carrying one
paragraph of PII (7 values: email, two phones, card, IBAN, IP); a code snippet with a config block
(hashes, UUIDs, long identifiers); and a worst case packed with PII (six copies of that paragraph,
42 values). Also timed: scan + mask (building the masked request the provider sees) for the PII prompt.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

from alfred.safety import Masker, PolicyBook, SafetySettings, Scanner
from alfred.safety.rewrite import masked_request
from alfred.schema import ChatRequest, Message

PROSE = (
    "Hello team, please review the attached quarterly report before Friday's meeting. The numbers look "
    "good overall, but we should discuss the marketing budget for 2025 and the three new hires. I think "
    "our customer retention strategy needs work; let's brainstorm ideas about onboarding, pricing tiers "
    "and the support experience. Summarise the main risks in five bullet points and suggest next steps. "
)
PII = (
    "Customer Jane Roe (jane.roe@acme-mail.com, +44 20 7946 0958) asked us to update her card on file to "
    "4539 1488 0343 6467 and to pay the refund to IBAN GB82 WEST 1234 5698 7654 32. Her US office line is "
    "(415) 555-0132 and the login came from 203.0.113.77. Please draft a polite reply confirming the "
    "change and explaining that refunds take 5-7 business days to arrive. "
)
CODE = (
    "Why does this function fail on empty input?\n\n```python\ndef load(path: str) -> dict[str, int]:\n"
    "    with open(path) as fh:\n        rows = [line.split(',') for line in fh if line.strip()]\n"
    "    return {name: int(count) for name, count in rows}\n```\n\nconfig.yaml:\n```yaml\nserver:\n"
    "  port: 8080\n  commit: 4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a3f\n  request_id: 3f8e2a1c-9b7d-4e6f-8a5b-1c2d3e4f5a6b\n```\n"
)


def two_kb(seed: str, filler: str = "") -> str:
    if filler:
        return (seed + filler * (2048 // len(filler) + 1))[:2048]
    return (seed * (2048 // len(seed) + 1))[:2048]


def percentiles(samples: list[int]) -> dict[str, float]:
    samples.sort()
    n = len(samples)
    return {
        "p50_us": round(samples[n // 2] / 1000, 1),
        "p99_us": round(samples[min(n - 1, int(n * 0.99))] / 1000, 1),
        "mean_us": round(statistics.fmean(samples) / 1000, 1),
    }


def measure(workloads: dict[str, Callable[[], object]], iterations: int) -> dict[str, dict[str, float]]:
    """Wall-clock and CPU-time percentiles per workload. Workloads run interleaved, one call each in
    turn, so on a shared machine they all meet the same contention; the CPU clock leaves out time
    spent waiting for a core, the wall clock does not."""
    for _ in range(min(2000, iterations // 10 + 1)):
        for fn in workloads.values():
            fn()  # warm caches and the regex engine
    wall: dict[str, list[int]] = {name: [] for name in workloads}
    cpu: dict[str, list[int]] = {name: [] for name in workloads}
    wall_clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
    for _ in range(iterations):
        for name, fn in workloads.items():
            start, start_cpu = wall_clock(), cpu_clock()
            fn()
            cpu[name].append(cpu_clock() - start_cpu)
            wall[name].append(wall_clock() - start)
    results = {}
    for name in workloads:
        figures = percentiles(wall[name])
        figures.update({f"cpu_{k}": v for k, v in percentiles(cpu[name]).items()})
        results[name] = figures
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    settings = SafetySettings.model_validate({"pii": {"action": "mask"}, "secrets": {"action": "block"}})
    policy = PolicyBook(settings).default
    scanner = Scanner()
    prompts = {
        "prose": two_kb(PROSE),
        "pii": two_kb(PII, PROSE),
        "code": two_kb(CODE),
        "pii_dense": two_kb(PII),
    }
    workloads: dict[str, Callable[[], object]] = {}
    for name, text in prompts.items():
        request = ChatRequest(model="m", messages=[Message(role="user", content=text)])
        workloads[f"scan_2kb_{name}"] = lambda r=request: scanner.scan(r, policy)
    request = ChatRequest(model="m", messages=[Message(role="user", content=prompts["pii"])])

    def scan_and_mask() -> object:
        report = scanner.scan(request, policy)
        edits = [(f.location, f.text, f.pii) for f in report.texts]
        return masked_request(request, edits, Masker())

    workloads["scan_and_mask_2kb_pii"] = scan_and_mask
    # A fixed pure-Python workload, so figures from different machines (or moments) can be compared.
    workloads["reference_loop"] = lambda: sum(i * i for i in range(1000))
    results = measure(workloads, args.iterations)
    reference = results["reference_loop"]["cpu_p50_us"]
    meta = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "iterations": args.iterations,
        "reference_loop_cpu_p50_us": reference,
    }
    if args.json:
        print(json.dumps({"meta": meta, "results": results}, indent=2))
    else:
        print(
            f"python {meta['python']} on {meta['machine']} ({meta['cpus']} CPUs, load {meta['load_average']}), "
            f"{args.iterations} iterations each; reference loop {reference} µs"
        )
        for name, figures in results.items():
            print(
                f"{name:24s} wall p50 {figures['p50_us']:7.1f} µs  p99 {figures['p99_us']:8.1f} µs"
                f"   cpu p50 {figures['cpu_p50_us']:7.1f} µs  p99 {figures['cpu_p99_us']:8.1f} µs"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
