"""One measurement each: a wrk load, a streaming run, a memory soak, a cold start. Each returns a sample dict."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import bodies
from bench.fleet import Fleet
from bench.servers import LOAD_CORE, ROOT, Server, pinned
from bench.wrk import Load, run_wrk

CHAT = "/v1/chat/completions"


def load_for(fleet: Fleet, target: str, body: str, *, unique: bool = False) -> Load:
    return Load(CHAT, body, fleet.headers(target), unique=unique)


def wrk_sample(fleet: Fleet, target: str, load: Load, concurrency: int, duration_s: float) -> dict[str, Any]:
    """Run wrk against ``target``; figures plus the target's CPU milliseconds per request."""
    server = fleet.servers[target]
    cpu_before = server.cpu_seconds()
    result = run_wrk(server.url, load, connections=concurrency, duration_s=duration_s, workdir=fleet.workdir)
    cpu = server.cpu_seconds() - cpu_before
    ok = max(result.requests - result.non_2xx, 0)
    return {
        "rps": round(result.rps, 1),
        "p50_ms": round(result.p50_ms, 3),
        "p99_ms": round(result.p99_ms, 3),
        "cpu_ms_per_req": round(cpu * 1000 / result.requests, 4) if result.requests else None,
        "requests": result.requests,
        "errors": result.errors + result.non_2xx,
        "ok": ok,
    }


def stream_sample(fleet: Fleet, target: str, duration_s: float) -> dict[str, Any]:
    """One streaming client (on the load core) reading 50-chunk streams one after another."""
    server = fleet.servers[target]
    args = [sys.executable, "-m", "bench.stream_client", "--url", server.url + CHAT, "--body", bodies.STREAM]
    args += ["--duration", str(duration_s)]
    args += [
        arg for k, v in fleet.headers(target) if k == "Authorization" for arg in ("--header", f"{k}:{v}")
    ]
    return client_json(args, duration_s + 120, "stream client")


def client_json(args: list[str], timeout_s: float, what: str) -> dict[str, Any]:
    """Run a load client on the load core; the JSON document on the last line it prints."""
    done = subprocess.run(  # noqa: S603
        pinned(args, LOAD_CORE),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed: {done.stderr[-500:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def soak(
    fleet: Fleet,
    target: str,
    load: Load,
    *,
    total_requests: int,
    segment_s: float,
    max_s: float,
    concurrency: int = 32,
) -> dict[str, Any]:
    """Send ``total_requests`` (or as many as ``max_s`` allows) in segments; RSS of each process after each."""
    server = fleet.servers[target]
    series: list[dict[str, Any]] = [{"requests": 0, "rss_mb": server.rss_mb()}]
    sent, errors, began = 0, 0, time.monotonic()
    while sent < total_requests and time.monotonic() - began < max_s:
        result = run_wrk(
            server.url, load, connections=concurrency, duration_s=segment_s, workdir=fleet.workdir
        )
        sent += result.requests
        errors += result.errors + result.non_2xx
        series.append({"requests": sent, "rss_mb": server.rss_mb()})
    first, last = sum(series[0]["rss_mb"]), sum(series[-1]["rss_mb"])
    return {
        "requests": sent,
        "errors": errors,
        "complete": sent >= total_requests,
        "rss_start_mb": round(first, 1),
        "rss_end_mb": round(last, 1),
        "rss_growth_mb": round(last - first, 1),
        "series": series,
    }


def cold_start(start: Callable[[], Server]) -> float:
    """Seconds from exec to the first answer from the readiness URL, for a fresh process."""
    server = start()
    try:
        return round(server.ready_s, 3)
    finally:
        server.stop()


def write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
