"""Cost of the Metrics stage per request, and of a scrape with several workers.

Usage: .venv/bin/python bench/metrics_bench.py [--iterations 20000] [--workers 4] [--json]

1. Stage cost: a pipeline of just the Metrics stage in front of a handler that fills the Call as the
   dispatcher does, with the finish hooks run as the endpoint runs them, minus the same pipeline
   without the stage; CPU time of the thread (``thread_time_ns``), best of 7 rounds. Measured in a
   child process per storage mode, because prometheus_client picks its storage at import time from
   PROMETHEUS_MULTIPROC_DIR.
2. The alternative the stage does not use: the same dozen updates a request makes, written straight
   into prometheus_client Counter/Gauge/Histogram objects, in memory and in multiprocess mode (one
   mmap write per update).
3. Several workers: the cost of one worker's flush of its tally into the multiprocess files, and of
   a scrape merging N workers' files (wall time, best of 20).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec

GROUPS = [f"group-{i}" for i in range(10)]
DEPLOYMENTS = [(g, "openai", "gpt-4o-mini") for g in GROUPS]


def _calls(n: int):  # type: ignore[no-untyped-def]
    from alfred.pipeline import Call
    from alfred.schema import ChatRequest

    request = msgspec.convert(
        {"model": "group-0", "messages": [{"role": "user", "content": "hi"}]}, ChatRequest
    )
    return [Call(f"r{i}", "chat", request, {}) for i in range(n)]


async def _handler(call):  # type: ignore[no-untyped-def]
    from alfred.schema import ChatResponse, Usage

    call.model_group = GROUPS[int(call.request_id[1:]) % len(GROUPS)]
    call.provider = "openai"
    call.upstream_model = "gpt-4o-mini"
    call.upstream_ns = 1_500_000
    call.usage = Usage(12, 30, 42)
    call.cost_micros = 1234
    call.outcome = "ok"
    return ChatResponse(id="x", model="m", choices=[], created=0)


async def _run(pipeline, calls) -> float:  # type: ignore[no-untyped-def]
    started = time.thread_time_ns()
    for call in calls:
        await pipeline.run(call)
        call.finished_ns = time.perf_counter_ns()
        for hook in call.finish_hooks:
            await hook(call)
    return (time.thread_time_ns() - started) / len(calls)


def stage_cost(iterations: int) -> dict[str, float]:
    from alfred.observability.metrics import GatewayMetrics
    from alfred.pipeline import Pipeline
    from alfred.pipeline.metrics import MetricsStage

    metrics = GatewayMetrics(groups=GROUPS, deployments=DEPLOYMENTS)
    with_stage = Pipeline([MetricsStage(metrics)], _handler)
    without = Pipeline([], _handler)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(_run(with_stage, _calls(2000)))  # warm the label cache
    rounds: dict[str, list[float]] = {"with": [], "without": []}
    for _ in range(7):
        rounds["without"].append(loop.run_until_complete(_run(without, _calls(iterations))))
        rounds["with"].append(loop.run_until_complete(_run(with_stage, _calls(iterations))))
    loop.close()
    metrics.close()
    best_with, best_without = min(rounds["with"]), min(rounds["without"])
    return {
        "pipeline_with_stage_us": round(best_with / 1000, 2),
        "pipeline_without_stage_us": round(best_without / 1000, 2),
        "stage_cost_us": round((best_with - best_without) / 1000, 2),
        "stage_cost_median_us": round(
            statistics.median(w - o for w, o in zip(rounds["with"], rounds["without"], strict=True)) / 1000, 2
        ),
        "prometheus_objects_us": _prometheus_objects_cost(iterations),
    }


def _prometheus_objects_cost(iterations: int) -> float:
    """The per-request updates made directly on prometheus_client objects (the design not taken)."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    from alfred.observability.metrics import LATENCY_BUCKETS, OVERHEAD_BUCKETS

    r = CollectorRegistry()
    requests = Counter("b_requests", "h", ["e", "g", "d", "p", "s", "c"], registry=r)
    in_flight = Gauge("b_in_flight", "h", ["e"], registry=r, multiprocess_mode="livesum")
    duration = Histogram("b_duration", "h", ["e", "g"], buckets=LATENCY_BUCKETS, registry=r)
    overhead = Histogram("b_overhead", "h", ["e", "g"], buckets=OVERHEAD_BUCKETS, registry=r)
    upstream = Histogram("b_upstream", "h", ["g", "d", "p"], buckets=LATENCY_BUCKETS, registry=r)
    tokens = Counter("b_tokens", "h", ["g", "d", "x"], registry=r)
    cost = Counter("b_cost", "h", ["g", "t"], registry=r)
    children = [
        (
            requests.labels("chat", g, d, "openai", "200", "none"), in_flight.labels("chat"),
            duration.labels("chat", g), overhead.labels("chat", g), upstream.labels(g, d, "openai"),
            tokens.labels(g, d, "in"), tokens.labels(g, d, "out"), cost.labels(g, "none"),
        )
        for g, d in zip(GROUPS, ("/".join(ref) for ref in DEPLOYMENTS), strict=True)
    ]  # fmt: skip
    best = float("inf")
    for _ in range(5):
        started = time.thread_time_ns()
        for i in range(iterations):
            req, flight, dur, over, up, t_in, t_out, c = children[i % len(children)]
            flight.inc()
            flight.dec()
            req.inc()
            dur.observe(0.0215)
            over.observe(0.0003)
            up.observe(0.0212)
            t_in.inc(12)
            t_out.inc(30)
            c.inc(0.0000123)
        best = min(best, (time.thread_time_ns() - started) / iterations)
    return round(best / 1000, 2)


def log_line_cost(iterations: int) -> dict[str, float]:
    """One request line: stdlib logging + JsonFormatter vs structlog (RequestLog), both to a null sink."""
    import io
    import logging

    from alfred.observability.logging import JsonFormatter, RequestLog
    from alfred.observability.settings import LoggingSettings

    fields = {
        "request_id": "3144348c69d244d5868ab48831c230d1", "method": "POST", "path": "/v1/chat/completions",
        "status": 200, "latency_ms": 3.826, "endpoint": "chat", "model": "gpt-4o-mini", "provider": "openai",
        "deployment": "openai/gpt-4o-mini", "route": "primary", "attempts": 1, "outcome": "ok",
        "prompt_tokens": 12, "completion_tokens": 30, "cost_usd": 0.00001234, "key_prefix": "sk-alf…12ab",
        "user": "u1", "team": "t1", "gateway_ms": 2.5, "upstream_ms": 2.3, "overhead_ms": 0.2,
    }  # fmt: skip

    class NullText(io.TextIOBase):
        def write(self, text: str) -> int:
            return len(text)

    class NullWriter:
        def msg(self, line: bytes) -> None:
            pass

        info = msg

    handler = logging.StreamHandler(NullText())
    handler.setFormatter(JsonFormatter())
    stdlib = logging.getLogger("bench.access")
    stdlib.handlers[:] = [handler]
    stdlib.propagate = False
    stdlib.setLevel(logging.INFO)
    logging.getLogger("alfred.access").setLevel(logging.INFO)  # as --log-level info does
    request_log = RequestLog(LoggingSettings(), NullWriter())  # type: ignore[arg-type]
    assert request_log.enabled

    def best(fn) -> float:  # type: ignore[no-untyped-def]
        times = []
        for _ in range(5):
            started = time.thread_time_ns()
            for _ in range(iterations):
                fn()
            times.append((time.thread_time_ns() - started) / iterations)
        return round(min(times) / 1000, 2)

    return {
        "stdlib_json_us": best(lambda: stdlib.info("request", extra={"alfred": fields})),
        "structlog_us": best(lambda: request_log.write(fields)),
    }


def _worker_traffic(iterations: int) -> None:
    """Child: a worker's share of traffic over every group, three statuses and five teams; then exit."""
    from alfred.observability.metrics import GatewayMetrics

    metrics = GatewayMetrics(groups=GROUPS, deployments=[(g, "openai", "m") for g in GROUPS])
    for i in range(iterations):
        group = GROUPS[i % len(GROUPS)]
        labels = ("chat", group, "openai", "m", (200, 429, 502)[i % 3], "miss", f"t{i % 5}")
        metrics.request(labels, total_s=0.02, overhead_s=0.0003, upstream_s=0.0197, ttft_s=0.01,
                        tokens_in=10, tokens_out=20, cost_usd=0.0001)  # fmt: skip
    started = time.perf_counter_ns()
    metrics.tally.flush()
    print(json.dumps({"flush_us": (time.perf_counter_ns() - started) / 1000}))
    metrics.close()


def scrape_cost(workers: int, iterations: int) -> dict[str, float]:
    script = str(Path(__file__).resolve())
    with tempfile.TemporaryDirectory() as mp_dir:
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": mp_dir}
        flushes = []
        for _ in range(workers):
            out = subprocess.run(  # noqa: S603 - this script, run again as a child
                [sys.executable, script, "--child-traffic", str(iterations)],
                env=env, check=True, capture_output=True, text=True,
            )  # fmt: skip
            flushes.append(json.loads(out.stdout)["flush_us"])
        code = (
            "import time,json\nfrom alfred.observability.metrics import GatewayMetrics\nm=GatewayMetrics()\n"
            "m.render()\nt=[]\nfor _ in range(20):\n s=time.perf_counter_ns();b,_=m.render()\n"
            " t.append(time.perf_counter_ns()-s)\nprint(json.dumps({'us':min(t)/1000,'bytes':len(b)}))\n"
        )
        out = subprocess.run(  # noqa: S603 - a fixed snippet
            [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
        )
        measured = json.loads(out.stdout)
    return {
        "worker_flush_ms": round(min(flushes) / 1000, 2),
        "scrape_ms": round(measured["us"] / 1000, 2),
        "scrape_bytes": measured["bytes"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child-stage", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-traffic", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_stage:
        print(json.dumps(stage_cost(args.iterations)))
        return
    if args.child_traffic:
        _worker_traffic(args.child_traffic)
        return
    script = str(Path(__file__).resolve())
    report: dict[str, object] = {"python": platform.python_version(), "cpus": os.cpu_count()}
    clean = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    out = subprocess.run(  # noqa: S603 - this script, run again as a child
        [sys.executable, script, "--child-stage", "--iterations", str(args.iterations)],
        env=clean, check=True, capture_output=True, text=True,
    )  # fmt: skip
    report["in_memory"] = json.loads(out.stdout)
    with tempfile.TemporaryDirectory() as mp_dir:
        out = subprocess.run(  # noqa: S603 - this script, run again as a child
            [sys.executable, script, "--child-stage", "--iterations", str(args.iterations)],
            env={**clean, "PROMETHEUS_MULTIPROC_DIR": mp_dir}, check=True, capture_output=True, text=True,
        )  # fmt: skip
    report["multiprocess"] = json.loads(out.stdout)
    report[f"{args.workers}_workers"] = scrape_cost(args.workers, 5000)
    report["log_line"] = log_line_cost(args.iterations)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for key, value in report.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
