"""The hot-path stack, chosen by measurement: ``python -m bench.stack_compare [--duration S] [--repeat N]``.

Measures the bare pass-through proxy (the Python floor, no Alfred code) on four stacks, in one run,
interleaved and repeated, against the same nginx upstream: uvicorn (uvloop + httptools) or granian
(ASGI, one worker, uvloop), each with an aiohttp or an httpx client. For each: requests per second at
c=32, p50 at c=1, and the server's CPU milliseconds per request (from /proc; the robust figure on a
shared machine). Then a one-process microbenchmark of msgspec against pydantic v2 on the chat
request (decode + validate, encode) and the chat response (decode + validate, encode), with Alfred's
own msgspec Structs and equivalent pydantic models. Writes bench/results/stack.json and prints tables.

Setup: the variants other than today's ``bench/bare_proxy.py`` run in ``bench/.venv-stack`` so that
Alfred's dependencies stay as they are. This script makes it on first use; by hand it is
``python3.11 -m venv bench/.venv-stack && bench/.venv-stack/bin/pip install granian httpx aiohttp
uvicorn uvloop httptools msgspec pydantic``. The microbenchmark runs in Alfred's own venv (it needs
``alfred.schema``), pinned to the server core.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from bench import bodies, measure, plan
from bench.environment import command_line, describe, uptime
from bench.fleet import Fleet
from bench.servers import ROOT, SERVER_CORE, free_port, pinned, start
from bench.stats import spread
from bench.upstreams import COMPLETION, start_nginx
from bench.wrk import Load

STACK_VENV = ROOT / "bench" / ".venv-stack"
STACK_PACKAGES = ("granian", "httpx", "aiohttp", "uvicorn", "uvloop", "httptools", "msgspec", "pydantic")
RESULTS = ROOT / "bench" / "results" / "stack.json"
CHAT = "/v1/chat/completions"


@dataclass(frozen=True)
class Variant:
    """One stack: its label, and the module + arguments that start it (``python`` is which venv)."""

    label: str
    server: str
    client: str
    today: bool = False  # today's bench/bare_proxy.py, in Alfred's own venv

    @property
    def in_alfreds_venv(self) -> bool:
        # The bare proxy and Alfred's own client run in Alfred's venv; the rest need granian's.
        return self.today or self.client == "http1"

    def command(self, port: int, upstream: str) -> list[str]:
        tail = ["--port", str(port), "--upstream", upstream]
        if self.today:
            return [sys.executable, "-m", "bench.bare_proxy", *tail]
        python = sys.executable if self.in_alfreds_venv else str(STACK_VENV / "bin" / "python")
        return [python, "-m", "bench.bare_variants", "--server", self.server, "--client", self.client, *tail]


VARIANTS = (
    Variant("uvicorn + aiohttp (the bench's bare proxy)", "uvicorn", "aiohttp", today=True),
    Variant("granian + aiohttp", "granian", "aiohttp"),
    Variant("uvicorn + httpx", "uvicorn", "httpx"),
    Variant("granian + httpx", "granian", "httpx"),
    Variant("uvicorn + Alfred's http1 client", "uvicorn", "http1"),
)


# -- the venv ---------------------------------------------------------------------------------


def ensure_stack_venv(log: Path) -> str | None:
    """Make bench/.venv-stack with granian and the rest; returns why it cannot be used, or None."""
    if (STACK_VENV / "bin" / "granian").exists():
        return None
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        steps = [
            [sys.executable, "-m", "venv", str(STACK_VENV)],
            [str(STACK_VENV / "bin" / "pip"), "install", "--quiet", *STACK_PACKAGES],
        ]
        for step in steps:
            done = subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, timeout=900, check=False)  # noqa: S603
            if done.returncode != 0:
                return f"`{shlex.join(step[:3])} …` failed with exit {done.returncode} (see {log})"
    return None if (STACK_VENV / "bin" / "granian").exists() else "granian is missing after install"


def versions(python: str, packages: Sequence[str]) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for p in sys.argv[1:]:\n"
        "    try: out[p] = m.version(p)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run([python, "-c", code, *packages], capture_output=True, text=True, check=False)  # noqa: S603
    return dict(json.loads(done.stdout)) if done.returncode == 0 else {}


# -- the proxies under load -------------------------------------------------------------------


def load_rounds(fleet: Fleet, labels: list[str], duration_s: float, repeat: int) -> list[dict[str, Any]]:
    """Each round: every variant at c=32 then c=1, in an order rotated by the round number."""
    load = Load(CHAT, bodies.SMALL, fleet.headers("bare"))
    for label in labels:
        measure.wrk_sample(fleet, label, load, 8, 1.0)  # warm-up: connections, pools, caches
    samples = []
    for round_no in range(repeat):
        for label in plan.interleaved(labels, round_no):
            for concurrency in (32, 1):
                sample = measure.wrk_sample(fleet, label, load, concurrency, duration_s)
                samples.append({"label": label, "concurrency": concurrency, "round": round_no, **sample})
                print(
                    f"  round {round_no} {label:28} c={concurrency:<3} {sample['rps']:>8.1f} rps  "
                    f"p50 {sample['p50_ms']:.3f} ms  cpu {sample['cpu_ms_per_req']} ms/req  "
                    f"errors {sample['errors']}",
                    flush=True,
                )
    return samples


def summarise(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per variant: rps at c=32, p50 at c=1, CPU ms/request at c=32 (median, min, max over rounds)."""
    labels = list(dict.fromkeys(s["label"] for s in samples))
    rows = []
    for label in labels:
        mine = [s for s in samples if s["label"] == label]
        at32 = [s for s in mine if s["concurrency"] == 32]
        at1 = [s for s in mine if s["concurrency"] == 1]
        cpu = [s["cpu_ms_per_req"] for s in at32 if s["cpu_ms_per_req"] is not None]
        rows.append(
            {
                "label": label,
                "rps_c32": spread([s["rps"] for s in at32]) if at32 else None,
                "p50_c1_ms": spread([s["p50_ms"] for s in at1]) if at1 else None,
                "cpu_ms_per_req_c32": spread(cpu) if cpu else None,
                "errors": sum(s["errors"] for s in mine),
            }
        )
    base = rows[0] if rows else None
    for row in rows:
        row["rps_vs_first"] = _ratio(row, base, "rps_c32")
        row["cpu_vs_first"] = _ratio(row, base, "cpu_ms_per_req_c32")
    return rows


def _ratio(row: dict[str, Any], base: dict[str, Any] | None, key: str) -> float | None:
    if base is None or row[key] is None or base[key] is None or not base[key]["median"]:
        return None
    return round(float(row[key]["median"]) / float(base[key]["median"]), 3)


def _cell(figure: dict[str, float] | None, digits: int) -> str:
    if figure is None:
        return "—"
    return f"{figure['median']:.{digits}f} ({figure['min']:.{digits}f}-{figure['max']:.{digits}f})"


def format_table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of ``summarise``'s rows: median (min-max) and the ratio to the first row."""
    lines = [
        "| stack (bare pass-through) | rps, c=32 | ÷ today | p50 ms, c=1 | CPU ms/req | ÷ today | errors |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        rps_ratio = "—" if row["rps_vs_first"] is None else f"{row['rps_vs_first']:.2f}"
        cpu_ratio = "—" if row["cpu_vs_first"] is None else f"{row['cpu_vs_first']:.2f}"
        lines.append(
            f"| {row['label']} | {_cell(row['rps_c32'], 0)} | {rps_ratio} | {_cell(row['p50_c1_ms'], 3)} "
            f"| {_cell(row['cpu_ms_per_req_c32'], 3)} | {cpu_ratio} | {row['errors']} |"
        )
    return "\n".join(lines)


# -- msgspec against pydantic -----------------------------------------------------------------


class PImageURL(BaseModel):
    url: str
    detail: str | None = None


class PContentPart(BaseModel):
    type: str
    text: str | None = None
    image_url: PImageURL | None = None


class PFunctionCall(BaseModel):
    name: str
    arguments: str


class PToolCall(BaseModel):
    id: str
    function: PFunctionCall
    type: str = "function"


class PMessage(BaseModel):
    role: str
    content: str | list[PContentPart] | None = None
    name: str | None = None
    tool_calls: list[PToolCall] | None = None
    tool_call_id: str | None = None
    refusal: str | None = None


class PFunctionDef(BaseModel):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class PTool(BaseModel):
    function: PFunctionDef
    type: str = "function"


class PStreamOptions(BaseModel):
    include_usage: bool | None = None


class PChatRequest(BaseModel):
    """``alfred.schema.ChatRequest`` in pydantic: unknown fields kept (as ``extra``), for pass-through."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[PMessage]
    stream: bool = False
    temperature: float | None = None
    top_p: float | None = None
    n: int | None = None
    stop: str | list[str] | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    tools: list[PTool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    stream_options: PStreamOptions | None = None
    user: str | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None


class PUsage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class PResponseMessage(BaseModel):
    role: str = "assistant"
    content: str | None = None
    tool_calls: list[PToolCall] | None = None
    refusal: str | None = None


class PChoice(BaseModel):
    index: int
    message: PResponseMessage
    finish_reason: str | None = "stop"
    logprobs: dict[str, Any] | None = None


class PChatResponse(BaseModel):
    id: str
    model: str
    choices: list[PChoice]
    created: int
    object: str = "chat.completion"
    usage: PUsage | None = None
    system_fingerprint: str | None = None


def micro_cases() -> dict[str, dict[str, Callable[[], object]]]:
    """Per operation, msgspec (as Alfred's hot path does it) and pydantic v2 doing the same job."""
    import msgspec

    from alfred.api.parsing import _CHAT_FIELDS, convert, decode_json_object
    from alfred.schema import ChatRequest, ChatResponse

    encoder = msgspec.json.Encoder()
    response_decoder = msgspec.json.Decoder(ChatResponse)
    response_bytes = json.dumps(COMPLETION, separators=(",", ":")).encode()
    small, large = bodies.SMALL.encode(), bodies.LARGE.encode()
    m_small = convert(decode_json_object(small), ChatRequest, _CHAT_FIELDS)
    p_small = PChatRequest.model_validate_json(small)
    m_resp = response_decoder.decode(response_bytes)
    p_resp = PChatResponse.model_validate_json(response_bytes)
    return {
        "request decode+validate (small)": {
            "msgspec": lambda: convert(decode_json_object(small), ChatRequest, _CHAT_FIELDS),
            "pydantic": lambda: PChatRequest.model_validate_json(small),
        },
        "request decode+validate (2 KB)": {
            "msgspec": lambda: convert(decode_json_object(large), ChatRequest, _CHAT_FIELDS),
            "pydantic": lambda: PChatRequest.model_validate_json(large),
        },
        "request encode (small)": {
            "msgspec": lambda: encoder.encode(msgspec.to_builtins(m_small)),
            "pydantic": lambda: p_small.model_dump_json(exclude_none=True),
        },
        "response decode+validate": {
            "msgspec": lambda: response_decoder.decode(response_bytes),
            "pydantic": lambda: PChatResponse.model_validate_json(response_bytes),
        },
        "response encode": {
            "msgspec": lambda: encoder.encode(m_resp),
            "pydantic": lambda: p_resp.model_dump_json(),
        },
    }


def run_micro(repeat: int, number: int) -> dict[str, dict[str, dict[str, float]]]:
    """µs per call, median/min/max over ``repeat`` timings of ``number`` calls each."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for op, libs in micro_cases().items():
        out[op] = {}
        for lib, call in libs.items():
            call()  # warm: first-call caches
            times = timeit.repeat(call, repeat=repeat, number=number)
            out[op][lib] = spread([t / number * 1e6 for t in times])
    return out


def micro_table(micro: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = [
        "| operation | msgspec µs | pydantic v2 µs | pydantic ÷ msgspec |",
        "| --- | --- | --- | --- |",
    ]
    for op, libs in micro.items():
        m, p = libs["msgspec"], libs["pydantic"]
        ratio = p["median"] / m["median"] if m["median"] else float("nan")
        lines.append(f"| {op} | {_cell(m, 2)} | {_cell(p, 2)} | {ratio:.1f} |")
    return "\n".join(lines)


def micro_in_subprocess(repeat: int, number: int) -> dict[str, Any]:
    """The microbenchmark in a fresh process pinned to the server core (wrk and nginx are idle then)."""
    args = [sys.executable, "-m", "bench.stack_compare", "--micro-only"]
    args += ["--micro-repeat", str(repeat), "--micro-number", str(number)]
    done = subprocess.run(  # noqa: S603
        pinned(args, SERVER_CORE), cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"microbenchmark failed: {done.stderr[-800:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- the run ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk measurement")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (the median is reported)")
    parser.add_argument("--micro-repeat", type=int, default=7)
    parser.add_argument("--micro-number", type=int, default=20000)
    parser.add_argument("--micro-only", action="store_true", help="only the microbenchmark, JSON to stdout")
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.micro_only:
        print(json.dumps(run_micro(args.micro_repeat, args.micro_number)))
        return 0
    started = dt.datetime.now(dt.UTC)
    result: dict[str, Any] = {
        "schema": 1,
        "started": started.isoformat(timespec="seconds"),
        "command": command_line("bench.stack_compare", argv),
        "uptime_start": uptime(),
        "duration_s": args.duration,
        "repeat": args.repeat,
        **describe(),
    }
    with tempfile.TemporaryDirectory(prefix="alfred-stack-") as tmp:
        workdir = Path(tmp)
        fleet = Fleet(workdir, workdir / "logs")
        fleet.logs.mkdir()
        why = ensure_stack_venv(ROOT / "bench" / "results" / "raw" / "stack-venv-install.log")
        variants = [v for v in VARIANTS if v.in_alfreds_venv or why is None]
        result["skipped"] = {} if why is None else {v.label: why for v in VARIANTS if not v.in_alfreds_venv}
        result["stack_versions"] = {
            "alfred venv": versions(sys.executable, STACK_PACKAGES),
            "stack venv": versions(str(STACK_VENV / "bin" / "python"), STACK_PACKAGES) if why is None else {},
        }
        try:
            upstream = fleet.servers["direct"] = start_nginx(workdir, fleet.logs)
            for variant in variants:
                port = free_port()
                url = f"http://127.0.0.1:{port}"
                name = variant.label
                command = variant.command(port, upstream.url)
                fleet.servers[name] = start(name, command, f"{url}/health", url, fleet.logs)
            labels = [v.label for v in variants]
            print(f"[stack {time.strftime('%H:%M:%S')}] {len(labels)} variants up; load rounds", flush=True)
            samples = load_rounds(fleet, labels, args.duration, args.repeat)
        finally:
            fleet.stop()
    print(f"[stack {time.strftime('%H:%M:%S')}] msgspec vs pydantic", flush=True)
    result["micro_us"] = micro_in_subprocess(args.micro_repeat, args.micro_number)
    result["uptime_end"] = uptime()
    result["samples"] = samples
    result["rows"] = summarise(samples)
    result["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    measure.write_json(args.out, result)
    print(format_table(result["rows"]))
    print()
    print(micro_table(result["micro_us"]))
    print(f"\nwrote {args.out}; load at start: {result['uptime_start']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
