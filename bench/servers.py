"""Start, pin, watch and stop the processes under test: nginx, the mock upstream, proxies and gateways.

Every server is a child started through ``taskset`` so it runs on the cores it was given; its CPU
time and resident memory are read from /proc (through psutil) for the whole process tree, so a
gateway with worker processes is counted whole.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[1]
SERVER_CORE = "1"  # the core every server under test runs on
LOAD_CORE = "0"  # the load generator's core (the upstreams share it: they are not the bottleneck)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(args: Sequence[str], cores: str | None) -> list[str]:
    """``args`` run under ``taskset -c cores`` (unpinned when cores is None or taskset is absent)."""
    if cores is None or shutil.which("taskset") is None:
        return list(args)
    return ["taskset", "-c", cores, *args]


@dataclass
class Server:
    """One started server: its process, base URL and where its output goes."""

    name: str
    url: str
    proc: subprocess.Popen[bytes]
    log: Path
    started_at: float
    ready_s: float = 0.0
    env: dict[str, str] = field(default_factory=dict)

    def tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the process and its children, so far."""
        total = 0.0
        for proc in self.tree():
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                continue
        return total

    def rss_mb(self) -> list[float]:
        """Resident memory of each process in the tree that is a server (taskset's own exec is the root)."""
        out = []
        for proc in self.tree():
            try:
                out.append(round(proc.memory_info().rss / 2**20, 1))
            except psutil.NoSuchProcess:
                continue
        return out

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def start(
    name: str,
    args: Sequence[str],
    ready_url: str,
    url: str,
    logs: Path,
    *,
    cores: str | None = SERVER_CORE,
    env: dict[str, str] | None = None,
    deadline_s: float = 60.0,
    ready_status: int | None = None,
) -> Server:
    """Start ``args`` in its own process group and wait until ``ready_url`` answers."""
    log = logs / f"{name}.log"
    full_env = {**os.environ, **(env or {})}
    began = time.monotonic()
    with log.open("ab") as out:
        proc = subprocess.Popen(  # noqa: S603  (the bench's own fixed argument lists)
            pinned(args, cores),
            cwd=ROOT,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(name, url, proc, log, began, env=env or {})
    try:
        server.ready_s = wait_ready(ready_url, proc, deadline_s, ready_status) - began
    except (RuntimeError, TimeoutError) as exc:
        server.stop()
        tail = log.read_text(errors="replace")[-600:].strip()
        raise RuntimeError(f"{name} did not start: {exc}; its output ends: {tail}") from None
    except BaseException:
        server.stop()
        raise
    return server


def wait_ready(
    url: str, proc: subprocess.Popen[bytes], deadline_s: float, status: int | None = None
) -> float:
    """Poll ``url`` until it answers (with ``status`` when given); returns the monotonic time it did."""
    deadline = time.monotonic() + deadline_s
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode} before ready")
        try:
            resp = httpx.get(url, timeout=1.0)
            if status is None or resp.status_code == status:
                return time.monotonic()
            last = f"HTTP {resp.status_code}"
        except httpx.HTTPError as exc:
            last = str(exc)
        time.sleep(0.01)
    raise TimeoutError(f"{url} not ready within {deadline_s}s ({last})")
