"""Chaos under load: ``python -m bench.chaos_load [--duration S] [--repeat N] [--concurrency C]``.

The traffic issue's fault scenarios (tests/chaos/test_breaker_failover.py tests them functionally)
measured under wrk at c=32: one healthy deployment beside faulty ones in a model group, with the
same timeouts, retries (4) and breaker settings as that test. Each scenario gets a fresh gateway
(``alfred serve``, pinned to the server core) so no breaker starts open from an earlier one; the
upstreams are Alfred's mock (``alfred mock-upstream``, one process per deployment, faults set
through ``POST /mock/faults``) and, for a real connection drop, a socket that reads the request and
resets the connection. Reports per scenario the success rate (2xx share of every request wrk sent,
socket errors counted as failures), p50/p99, the p99 added over the healthy-only baseline, and how
many upstream calls each mock received (the breakers' effect). Writes bench/results/chaos.json.

wrk's percentiles are corrected for coordinated omission (wrk 4 adds, for every response slower than
twice the mean interval per connection, the samples a fixed-rate client would have seen), so a few
slow requests raise wrk's p99 far beyond their own share. After wrk, an aiohttp client (closed loops,
on the load core) drives the same gateway for ``--raw-duration`` seconds and reports every request's
own latency ("raw"); both are in the table.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench import bodies, measure, plan
from bench.environment import command_line, describe, uptime
from bench.fleet import Fleet
from bench.servers import LOAD_CORE, ROOT, Server, free_port, pinned, start
from bench.stats import percentile, spread
from bench.wrk import Load, WrkResult, lua_script, parse_output

RESULTS = ROOT / "bench" / "results" / "chaos.json"
CHAT = "/v1/chat/completions"
MODEL = "chaos"

# Per provider: the chaos test's timeouts. "reset" is the real connection drop (no mock fault for it).
TIMEOUTS = {
    "healthy": "{first_byte: 0.5, stream_idle: 0.5, total: 5}",
    "failing": "{first_byte: 0.5, stream_idle: 0.5, total: 5}",
    "hanging": "{first_byte: 0.3, stream_idle: 0.5, total: 5}",
    "dropping": "{first_byte: 0.5, stream_idle: 0.5, total: 5}",
    "reset": "{first_byte: 0.5, stream_idle: 0.5, total: 5}",
    "slow": "{first_byte: 2, stream_idle: 2, total: 10}",
    "hiccup": "{first_byte: 0.5, stream_idle: 0.5, total: 5}",
}
# The mock's fault per deployment, as the chaos test sets them.
FAULTS: dict[str, dict[str, object]] = {
    "failing": {"status": 500},
    "hanging": {"hang": True},
    "dropping": {"status": 503},  # an error before the first byte: retryable
    "slow": {"latency_ms": 150},
    # Not in the chaos test: a good deployment whose answer is, 1 time in 500, later than the 0.5 s
    # first-byte timeout (a GC pause, a cold replica). Shows what the breaker makes of rare timeouts.
    "hiccup": {"latency_ms": 700, "rate": 0.002},
}
MOCKS = ("healthy", "failing", "hanging", "dropping", "slow", "hiccup")


# The chaos test's breaker: 3 failures in 30 s open it for 1.5 s.
BREAKER = "{failure_threshold: 3, window_s: 30, cooldown_s: 1.5, probe_timeout_s: 3}"
# The same, opened on the share of failures instead of their count (not the chaos test's).
BREAKER_BY_RATE = (
    "{failure_threshold: null, error_rate_threshold: 0.5, min_requests: 20, window_s: 30, "
    "cooldown_s: 1.5, probe_timeout_s: 3}"
)


@dataclass(frozen=True)
class Scenario:
    """A model group: the healthy deployment (weight 1) and these faulty ones (weight 5 each)."""

    name: str
    faulty: tuple[str, ...]
    what: str
    healthy: str = "healthy"  # the deployment that can serve every request
    breaker: str = BREAKER


SCENARIOS = (
    Scenario("baseline", (), "healthy deployment only"),
    Scenario("failing", ("failing",), "+ a deployment answering HTTP 500"),
    Scenario("hanging", ("hanging",), "+ a deployment that never answers (first-byte timeout 0.3 s)"),
    Scenario("dropping-503", ("dropping",), "+ a deployment answering 503 before the first byte"),
    Scenario("dropping-reset", ("reset",), "+ a deployment resetting the connection after the request"),
    Scenario("slow", ("slow",), "+ a deployment answering after 150 ms"),
    Scenario("all", ("failing", "hanging", "dropping", "slow"), "all four faulty ones (the chaos test)"),
    Scenario(
        "hiccup",
        (),
        "only deployment: 0.2% of answers later than its 0.5 s first-byte timeout",
        healthy="hiccup",
    ),
    Scenario(
        "hiccup-by-rate",
        (),
        "the same, the breaker opening at a 50% failure share (min 20 results) instead of 3 failures",
        healthy="hiccup",
        breaker=BREAKER_BY_RATE,
    ),
)


def config_yaml(scenario: Scenario) -> str:
    """The gateway config for ``scenario``: URLs come from the environment (``${HEALTHY}`` …)."""
    names = (scenario.healthy, *scenario.faulty)
    lines = ["providers:"]
    for name in names:
        lines.append(
            f'  {name}: {{kind: openai, base_url: "${{{name.upper()}}}/v1", api_key: k, timeouts: {TIMEOUTS[name]}}}'
        )
    lines += ["models:", f"  - name: {MODEL}", "    deployments:"]
    for name in names:
        weight = 1 if name == scenario.healthy else 5
        lines.append(f"      - {{provider: {name}, model: m, weight: {weight}}}")
    lines += [
        "retries: 4",
        "routing:",
        f"  breaker: {scenario.breaker}",
    ]
    return "\n".join(lines) + "\n"


# -- the connection-dropping upstream ---------------------------------------------------------


async def _reset_after_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(65536)  # the request's head (and body) arrive, then the connection dies
    sock = writer.get_extra_info("socket")
    if sock is not None:  # SO_LINGER 0: close sends RST, as a crashed or killed upstream would
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    writer.close()


async def _serve_reset(port: int) -> None:
    server = await asyncio.start_server(_reset_after_request, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def start_resetter(logs: Path) -> Server:
    """``python -m bench.chaos_load --reset-port P`` on the load core; it speaks no HTTP, so probed by TCP."""
    port = free_port()
    with (logs / "reset.log").open("ab") as out:
        proc = subprocess.Popen(  # noqa: S603  (this module, a fixed argument list)
            pinned([sys.executable, "-m", "bench.chaos_load", "--reset-port", str(port)], LOAD_CORE),
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server("reset", f"http://127.0.0.1:{port}", proc, logs / "reset.log", time.monotonic())
    try:
        wait_accepting(port)
    except BaseException:
        server.stop()
        raise
    return server


def wait_accepting(port: int, deadline_s: float = 20.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing accepting on port {port} within {deadline_s}s")


# -- wrk, counting statuses ------------------------------------------------------------------

STATUS_MARKER = "WRKSTATUS "
# Appended to bench.wrk's script: each thread counts response statuses; ``done`` (in wrk's main Lua
# state) collects them through ``thread:get`` and prints one more JSON line after bench.wrk's.
_STATUS_LUA = """
local threads = {}
setup = function(thread) table.insert(threads, thread) end
local base_init = init
init = function(args)
  statuses = {}
  if base_init then base_init(args) end
end
response = function(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
local base_done = done
done = function(summary, latency, requests)
  base_done(summary, latency, requests)
  local out = {}
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses")) do out[code] = (out[code] or 0) + n end
  end
  local parts = {}
  for code, n in pairs(out) do table.insert(parts, string.format('"%d":%d', code, n)) end
  io.write("WRKSTATUS {" .. table.concat(parts, ",") .. "}\\n")
end
"""


def parse_statuses(text: str) -> dict[str, int]:
    """The ``WRKSTATUS`` line: responses by HTTP status (as strings, sorted)."""
    for line in text.splitlines():
        if line.startswith(STATUS_MARKER):
            counts = json.loads(line[len(STATUS_MARKER) :])
            return {code: int(counts[code]) for code in sorted(counts)}
    raise ValueError(f"no {STATUS_MARKER.strip()} line in wrk's output: {text[-500:]!r}")


def run_wrk_statuses(
    url: str, load: Load, *, connections: int, duration_s: float, workdir: Path
) -> tuple[WrkResult, dict[str, int]]:
    """bench.wrk's run (one thread on the load core), plus the count of each response status."""
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
    script = workdir / "chaos-load.lua"
    script.write_text(lua_script(load) + _STATUS_LUA)
    seconds = max(1, round(duration_s))
    args = [binary, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script)]
    done = subprocess.run(  # noqa: S603
        pinned([*args, url + load.path], LOAD_CORE),
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited {done.returncode}: {done.stderr[-500:]}")
    return parse_output(done.stdout), parse_statuses(done.stdout)


# -- the raw-latency client -------------------------------------------------------------------


def raw_summary(
    latencies_ms: list[float], statuses: dict[str, int], errors: int, elapsed_s: float
) -> dict[str, Any]:
    """Exact percentiles of every request's own latency (no coordinated-omission correction)."""

    def q(p: float) -> float:
        return round(percentile(latencies_ms, p), 3) if latencies_ms else 0.0

    done = len(latencies_ms)
    ok = sum(n for code, n in statuses.items() if code.startswith("2"))
    return {
        "requests": done,
        "ok": ok,
        "socket_errors": errors,
        "statuses": {code: statuses[code] for code in sorted(statuses)},
        "success_rate": round(ok / (done + errors), 6) if done + errors else None,
        "rps": round(done / elapsed_s, 1) if elapsed_s else 0.0,
        "p50_ms": q(50),
        "p90_ms": q(90),
        "p99_ms": q(99),
        "max_ms": round(max(latencies_ms), 3) if latencies_ms else 0.0,
    }


async def _drive(url: str, body: bytes, concurrency: int, duration_s: float) -> dict[str, Any]:
    """``concurrency`` closed loops posting ``body`` for ``duration_s``; each request's latency kept."""
    import aiohttp

    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors = 0
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}
    timeout = aiohttp.ClientTimeout(total=10)
    began = time.perf_counter()
    stop = began + duration_s
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:

        async def loop() -> None:
            nonlocal errors
            while time.perf_counter() < stop:
                sent = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=headers) as resp:
                        await resp.read()
                        code = str(resp.status)
                except (aiohttp.ClientError, TimeoutError):
                    errors += 1
                    continue
                latencies.append((time.perf_counter() - sent) * 1000)
                statuses[code] = statuses.get(code, 0) + 1

        await asyncio.gather(*(loop() for _ in range(concurrency)))
    return raw_summary(latencies, statuses, errors, time.perf_counter() - began)


def run_raw_client(url: str, concurrency: int, duration_s: float) -> dict[str, Any]:
    """The aiohttp client in its own process on the load core; its JSON summary."""
    args = [sys.executable, "-m", "bench.chaos_load", "--drive", url, "--concurrency", str(concurrency)]
    args += ["--duration", str(duration_s)]
    return measure.client_json(args, duration_s + 120, "the aiohttp client")


# -- the run ----------------------------------------------------------------------------------


def start_upstreams(fleet: Fleet) -> dict[str, str]:
    """Every mock (faults set) and the resetter; returns each deployment's base URL."""
    urls: dict[str, str] = {}
    for name in MOCKS:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        args = [sys.executable, "-m", "alfred", "mock-upstream", "--port", str(port)]
        fleet.servers[f"mock-{name}"] = start(
            f"mock-{name}", args, f"{url}/mock/stats", url, fleet.logs, cores=LOAD_CORE
        )
        if name in FAULTS:
            httpx.post(f"{url}/mock/faults", json=FAULTS[name], timeout=5).raise_for_status()
        urls[name] = url
    fleet.servers["reset"] = start_resetter(fleet.logs)
    urls["reset"] = fleet.servers["reset"].url
    return urls


def mock_calls(urls: dict[str, str]) -> dict[str, int]:
    return {name: int(httpx.get(f"{urls[name]}/mock/stats", timeout=5).json()["total"]) for name in MOCKS}


def reset_mock_stats(urls: dict[str, str]) -> None:
    for name in MOCKS:
        httpx.delete(f"{urls[name]}/mock/stats", timeout=5)


def start_gateway(fleet: Fleet, scenario: Scenario, urls: dict[str, str]) -> Server:
    conf = fleet.workdir / f"chaos-{scenario.name}.yaml"
    conf.write_text(config_yaml(scenario))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "alfred", "serve", "--config", str(conf), "--port", str(port)]
    args += ["--log-level", "warning"]
    env = {name.upper(): base for name, base in urls.items()}
    return start(f"alfred-{scenario.name}", args, f"{url}/health/live", url, fleet.logs, env=env)


def counters(metrics: str, name: str, keys: Sequence[str]) -> dict[str, int]:
    """Counter ``name`` from a /metrics page, summed by the ``keys`` labels ("a b c" -> count), zeros left out."""
    out: dict[str, int] = {}
    for line in metrics.splitlines():
        if not line.startswith(name + "{"):
            continue
        labels_text, _, value = line.removeprefix(name + "{").partition("} ")
        labels = dict(part.split("=", 1) for part in labels_text.split(",") if "=" in part)
        key = " ".join(labels.get(k, "?").strip('"') for k in keys)
        out[key] = out.get(key, 0) + round(float(value))
    return {key: count for key, count in sorted(out.items()) if count}


def one_scenario(
    fleet: Fleet, scenario: Scenario, urls: dict[str, str], concurrency: int, duration_s: float, raw_s: float
) -> dict[str, Any]:
    """A fresh gateway, mock counters zeroed, one wrk run; the figures and who served what.

    Then, when ``raw_s``, the aiohttp client on the same gateway (breakers settled by then): wrk's
    percentiles are corrected for coordinated omission, these are every request's own latency.
    """
    gateway = fleet.servers[f"alfred-{scenario.name}"] = start_gateway(fleet, scenario, urls)
    try:
        reset_mock_stats(urls)
        load = Load(CHAT, bodies.chat("Say hello in one short sentence.", model=MODEL), fleet.headers("x"))
        cpu_before = gateway.cpu_seconds()
        result, statuses = run_wrk_statuses(
            gateway.url, load, connections=concurrency, duration_s=duration_s, workdir=fleet.workdir
        )
        cpu = gateway.cpu_seconds() - cpu_before
        calls = mock_calls(urls)
        metrics = httpx.get(f"{gateway.url}/metrics", timeout=10).text
        transitions = counters(
            metrics, "alfred_breaker_transitions_total", ("deployment", "from_state", "to_state")
        )
        answered = counters(metrics, "alfred_requests_total", ("deployment", "status"))
        # What the gateway said when requests failed (its log is lost with the temporary directory).
        log_tail = fleet.log_tail(gateway.name, 3000) if result.non_2xx or result.errors else ""
        raw = run_raw_client(gateway.url, concurrency, raw_s) if raw_s > 0 else None
    finally:
        fleet.servers.pop(f"alfred-{scenario.name}").stop()
    sent = result.requests + result.errors  # responses read, plus requests lost to socket errors
    ok = max(result.requests - result.non_2xx, 0)
    return {
        "scenario": scenario.name,
        "requests": result.requests,
        "ok": ok,
        "non_2xx": result.non_2xx,
        "socket_errors": result.errors,
        "success_rate": round(ok / sent, 6) if sent else None,
        "rps": round(result.rps, 1),
        "p50_ms": round(result.p50_ms, 3),
        "p90_ms": round(result.p90_ms, 3),
        "p99_ms": round(result.p99_ms, 3),
        "max_ms": round(result.max_ms, 3),
        "cpu_ms_per_req": round(cpu * 1000 / result.requests, 4) if result.requests else None,
        "load_avg_1m": round(os.getloadavg()[0], 2),  # others share this machine: read rps with it
        "statuses": statuses,
        "upstream_calls": calls,
        "breaker_transitions": transitions,
        "answered_by_deployment_status": answered,
        "gateway_log_tail": log_tail,
        "raw": raw,
    }


def summarise(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per scenario (median/min/max over rounds).

    Added p50/p99 are paired: each round's figure minus the baseline's in the same round, and the
    median of those differences, since the machine's load drifts between rounds more than within one.
    """
    names = list(dict.fromkeys(s["scenario"] for s in samples))
    rows = []
    for name in names:
        mine = [s for s in samples if s["scenario"] == name]
        rates = [s["success_rate"] for s in mine if s["success_rate"] is not None]
        rows.append(
            {
                "scenario": name,
                "success_rate": spread(rates) if rates else None,
                "failed": sum(s["non_2xx"] + s["socket_errors"] for s in mine),
                "requests": sum(s["requests"] for s in mine),
                "rps": spread([s["rps"] for s in mine]),
                "p50_ms": spread([s["p50_ms"] for s in mine]),
                "p99_ms": spread([s["p99_ms"] for s in mine]),
                "cpu_ms_per_req": spread([s["cpu_ms_per_req"] for s in mine if s["cpu_ms_per_req"]] or [0.0]),
                "statuses": _sum_calls([s.get("statuses", {}) for s in mine]),
                "upstream_calls": _sum_calls([s["upstream_calls"] for s in mine]),
                "breaker_transitions": _sum_calls([s.get("breaker_transitions", {}) for s in mine]),
            }
        )
        raws = [s["raw"] for s in mine if s.get("raw")]
        rows[-1]["raw"] = (
            {
                "success_rate": spread(
                    [r["success_rate"] for r in raws if r["success_rate"] is not None] or [0.0]
                ),
                "statuses": _sum_calls([r["statuses"] for r in raws]),
                "p50_ms": spread([r["p50_ms"] for r in raws]),
                "p99_ms": spread([r["p99_ms"] for r in raws]),
            }
            if raws
            else None
        )
        base = {s.get("round", 0): s for s in samples if s["scenario"] == "baseline"}
        for key in ("p50_ms", "p99_ms"):
            paired = [s[key] - base[s.get("round", 0)][key] for s in mine if s.get("round", 0) in base]
            rows[-1][f"added_{key}"] = round(percentile(paired, 50), 3) if paired else None
        raw_paired = [
            s["raw"]["p99_ms"] - base[s.get("round", 0)]["raw"]["p99_ms"]
            for s in mine
            if s.get("raw") and s.get("round", 0) in base and base[s.get("round", 0)].get("raw")
        ]
        rows[-1]["added_raw_p99_ms"] = round(percentile(raw_paired, 50), 3) if raw_paired else None
    return rows


def _sum_calls(calls: Sequence[dict[str, int]]) -> dict[str, int]:
    """Counts by name summed over rounds; names never counted are left out."""
    out: dict[str, int] = {}
    for one in calls:
        for name, count in one.items():
            out[name] = out.get(name, 0) + count
    return {name: count for name, count in out.items() if count}


def format_table(rows: list[dict[str, Any]], what: dict[str, str]) -> str:
    """A Markdown table of ``summarise``'s rows."""
    lines = [
        "| scenario | what | success (2xx share) | failed | rps | p50 ms | p99 ms | added p99 ms "
        "| raw: success | raw: p99 ms | raw: added p99 ms | gateway CPU ms/req | upstream calls |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        rate = row["success_rate"]
        rate_cell = "—" if rate is None else f"{rate['median'] * 100:.3f}% (min {rate['min'] * 100:.3f}%)"
        added = "—" if row["added_p99_ms"] is None else f"{row['added_p99_ms']:+.1f}"
        calls = ", ".join(f"{k} {v}" for k, v in row["upstream_calls"].items()) or "—"
        bad = ", ".join(f"{code}: {n}" for code, n in row.get("statuses", {}).items() if code[0] != "2")
        failed = f"{row['failed']} ({bad})" if bad else str(row["failed"])
        lines.append(
            f"| {row['scenario']} | {what.get(row['scenario'], '')} | {rate_cell} | {failed} "
            f"| {row['rps']['median']:.0f} | {row['p50_ms']['median']:.2f} | {row['p99_ms']['median']:.2f} "
            f"| {added} | {_raw_cells(row)} | {row['cpu_ms_per_req']['median']:.3f} | {calls} |"
        )
    return "\n".join(lines)


def _raw_cells(row: dict[str, Any]) -> str:
    """The aiohttp client's success share, p99 and added p99 (paired with the baseline's), or dashes."""
    raw = row.get("raw")
    if not raw:
        return "— | — | —"
    added = row.get("added_raw_p99_ms")
    added_cell = "—" if added is None else f"{added:+.1f}"
    return f"{raw['success_rate']['median'] * 100:.3f}% | {raw['p99_ms']['median']:.2f} | {added_cell}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of wrk per scenario")
    parser.add_argument("--repeat", type=int, default=1, help="rounds (the median is reported)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--raw-duration",
        type=float,
        default=8.0,
        help="seconds of the aiohttp client (exact, uncorrected latencies) after wrk; 0 leaves it out",
    )
    parser.add_argument(
        "--scenarios", default=",".join(s.name for s in SCENARIOS), help="comma-separated subset"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--reset-port", type=int, help=argparse.SUPPRESS)  # the resetter's own process
    parser.add_argument("--drive", help=argparse.SUPPRESS)  # the aiohttp client's own process
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.reset_port:
        asyncio.run(_serve_reset(args.reset_port))
        return 0
    if args.drive:
        body = bodies.chat("Say hello in one short sentence.", model=MODEL).encode()
        print(json.dumps(asyncio.run(_drive(args.drive + CHAT, body, args.concurrency, args.duration))))
        return 0
    wanted = set(args.scenarios.split(","))
    scenarios = [s for s in SCENARIOS if s.name in wanted]
    started = dt.datetime.now(dt.UTC)
    result: dict[str, Any] = {
        "schema": 1,
        "started": started.isoformat(timespec="seconds"),
        "command": command_line("bench.chaos_load", argv),
        "uptime_start": uptime(),
        "duration_s": args.duration,
        "concurrency": args.concurrency,
        "repeat": args.repeat,
        "faults": FAULTS,
        "configs": {s.name: config_yaml(s) for s in scenarios},
        **describe(),
    }
    samples = []
    with tempfile.TemporaryDirectory(prefix="alfred-chaos-") as tmp:
        fleet = Fleet(Path(tmp), Path(tmp) / "logs")
        fleet.logs.mkdir()
        try:
            urls = start_upstreams(fleet)
            for round_no in range(args.repeat):
                for scenario in plan.interleaved(scenarios, round_no):
                    sample = one_scenario(
                        fleet, scenario, urls, args.concurrency, args.duration, args.raw_duration
                    )
                    samples.append({**sample, "round": round_no})
                    print(
                        f"[chaos {time.strftime('%H:%M:%S')}] {scenario.name:15} ok {sample['ok']}/"
                        f"{sample['requests'] + sample['socket_errors']}  p50 {sample['p50_ms']:.2f} ms  "
                        f"p99 {sample['p99_ms']:.2f} ms  statuses {sample['statuses']}  calls {sample['upstream_calls']}  "
                        f"breakers {sample['breaker_transitions']}",
                        flush=True,
                    )
        finally:
            fleet.stop()
    result["uptime_end"] = uptime()
    result["samples"] = samples
    result["rows"] = summarise(samples)
    result["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    measure.write_json(args.out, result)
    print(format_table(result["rows"], {s.name: s.what for s in SCENARIOS}))
    print(f"\nwrote {args.out}; load at start: {result['uptime_start']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
