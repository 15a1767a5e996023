"""Gateways for the security tests: each with its own mock upstream, limits set small through the
environment so every cap can be reached with a handful of requests."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.servers import ROOT, free_port, mock_upstream, wait_http


@contextmanager
def limited_gateway(env: dict[str, str], config: str = "examples/mock.yaml") -> Iterator[tuple[str, str]]:
    """A mock upstream and a gateway in front of it; yields (gateway URL, mock URL)."""
    with mock_upstream() as mock, logged_gateway(config, {"ALFRED_MOCK_URL": mock, **env}) as (url, _):
        yield url, mock


@contextmanager
def logged_gateway(
    config: str | Path, env: dict[str, str], log_level: str = "warning", log_file: Path | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``alfred serve`` with stdout and stderr going to ``log_file`` (never a pipe that can fill up)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    out = log_file.open("wb") if log_file is not None else subprocess.DEVNULL
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "alfred",
            "serve",
            "--config",
            str(ROOT / config),
            "--port",
            str(port),
            "--log-level",
            log_level,
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_http(f"{url}/health/live", proc=proc)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log_file is not None and hasattr(out, "close"):
            out.close()


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def read_until_closed(sock: socket.socket, deadline_s: float) -> tuple[bytes, bool]:
    """Everything the server sends until it closes (True) or the deadline passes (False)."""
    data = b""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        ready, _, _ = select.select([sock], [], [], max(0.0, end - time.monotonic()))
        if not ready:
            break
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def dribble(
    sock: socket.socket, data: bytes, interval_s: float, deadline_s: float
) -> tuple[int, float, bytes]:
    """Send ``data`` a byte every ``interval_s``, watching for the server to answer or hang up.

    Returns how many bytes went out, when the server cut the connection (seconds since the first
    byte, or ``inf``) and what it said. The wait between bytes is the attack's pace, and it is also
    the poll for the server's answer.
    """
    start = time.monotonic()
    sent = 0
    for byte in data:
        if time.monotonic() - start > deadline_s:
            break
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            return sent, time.monotonic() - start, b""
        sent += 1
        ready, _, _ = select.select([sock], [], [], interval_s)
        if ready:
            answer, closed = read_until_closed(sock, 5.0)
            if closed:
                return sent, time.monotonic() - start, answer
    return sent, float("inf"), b""
