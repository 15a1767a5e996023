"""Drive wrk (pinned to the load core) and read its figures back as exact numbers.

wrk's text report rounds percentiles to two digits; a Lua ``done`` hook prints them in microseconds
on one ``WRKJSON`` line instead, which ``parse_output`` reads. Requests are either one fixed body or
a fresh body per request (a counter spliced into a template), for cache misses.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.servers import LOAD_CORE, pinned

MARKER = "WRKJSON "
COUNTER = "__N__"  # replaced by a per-request counter in a unique body

_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,' ..
    '"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
"""


@dataclass(frozen=True)
class Load:
    """What to send: a POST body to a path, with headers; ``unique`` makes each body differ."""

    path: str
    body: str
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    unique: bool = False


@dataclass(frozen=True)
class WrkResult:
    """One wrk run's figures."""

    requests: int
    duration_s: float
    errors: int
    non_2xx: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0


def _long_string(text: str) -> str:
    level = "=" * 4
    while f"]{level}]" in text:
        level += "="
    return f"[{level}[{text}]{level}]"


def lua_script(load: Load) -> str:
    """The wrk script for ``load``: method, headers, body (fixed or per-request), and the JSON ``done``."""
    lines = ['wrk.method = "POST"']
    lines += [f"wrk.headers[ {_long_string(k)} ] = {_long_string(v)}" for k, v in load.headers]
    if load.unique:
        if COUNTER not in load.body:
            raise ValueError(f"a unique body needs the {COUNTER} placeholder")
        head, tail = load.body.split(COUNTER, 1)
        lines += [
            f"local head, tail = {_long_string(head)}, {_long_string(tail)}",
            "local n = 0",
            # A random start per run, so a rerun misses the cache too.
            "init = function(args)",
            "  math.randomseed(os.time() * 1000 + math.floor(os.clock() * 1e6))",
            "  n = math.random(1, 1000000) * 100000000",
            "end",
            "request = function()",
            "  n = n + 1",
            "  return wrk.format(nil, nil, nil, head .. tostring(n) .. tail)",
            "end",
        ]
    else:
        lines.append(f"wrk.body = {_long_string(load.body)}")
    return "\n".join(lines) + "\n" + _DONE


def parse_output(text: str) -> WrkResult:
    """Read the ``WRKJSON`` line wrk's ``done`` hook printed."""
    for line in text.splitlines():
        if line.startswith(MARKER):
            data = json.loads(line[len(MARKER) :])
            errors = data["connect"] + data["read"] + data["write"] + data["timeout"]
            return WrkResult(
                requests=int(data["requests"]),
                duration_s=data["duration_us"] / 1e6,
                errors=int(errors),
                non_2xx=int(data["status"]),
                p50_ms=data["p50_us"] / 1000,
                p90_ms=data["p90_us"] / 1000,
                p99_ms=data["p99_us"] / 1000,
                mean_ms=data["mean_us"] / 1000,
                max_ms=data["max_us"] / 1000,
            )
    raise ValueError(f"no {MARKER.strip()} line in wrk's output: {text[-500:]!r}")


def run_wrk(url: str, load: Load, *, connections: int, duration_s: float, workdir: Path) -> WrkResult:
    """One wrk run (one thread, on the load core) against ``url + load.path``."""
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
    script = workdir / f"load-{abs(hash(load))}.lua"
    script.write_text(lua_script(load))
    seconds = max(1, round(duration_s))
    args = [
        binary,
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url + load.path,
    ]
    command = pinned(args, LOAD_CORE)
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited {done.returncode}: {done.stderr[-500:]}")
    return parse_output(done.stdout)
