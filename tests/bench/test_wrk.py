"""The wrk driver: the Lua it writes and the figures it reads back (and, where wrk is installed, both together)."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from bench.wrk import COUNTER, Load, lua_script, parse_output, run_wrk

WRK_OUTPUT = """Running 1s test @ http://127.0.0.1:8080/v1/chat/completions
  1 threads and 32 connections
  1200 requests in 1.00s, 1.00MB read
Requests/sec:   1200.00
WRKJSON {"requests":1200,"duration_us":1002000,"bytes":999,"connect":0,"read":2,"write":0,"status":5,"timeout":1,"p50_us":1250,"p90_us":2000,"p99_us":4875,"mean_us":1333.5,"max_us":9000}
"""


def test_parse_output_reads_the_json_line_in_milliseconds() -> None:
    result = parse_output(WRK_OUTPUT)
    assert result.requests == 1200
    assert result.duration_s == pytest.approx(1.002)
    assert result.rps == pytest.approx(1200 / 1.002)
    assert (result.p50_ms, result.p90_ms, result.p99_ms) == (1.25, 2.0, 4.875)
    assert result.errors == 3  # connect + read + write + timeout; non-2xx counted apart
    assert result.non_2xx == 5


def test_parse_output_without_the_json_line_says_so() -> None:
    with pytest.raises(ValueError, match="no WRKJSON line"):
        parse_output("Running 1s test\nRequests/sec: 10\n")


def test_fixed_body_script_sets_method_headers_and_body_verbatim() -> None:
    body = '{"a":"]]quoted[[ and ]====]"}'
    script = lua_script(Load("/v1/x", body, (("Authorization", "Bearer k"),)))
    assert 'wrk.method = "POST"' in script
    assert "wrk.headers[ [====[Authorization]====] ] = [====[Bearer k]====]" in script
    # The body holds the default closing bracket, so the long string uses a longer level.
    assert f"wrk.body = [=====[{body}]=====]" in script
    assert "request = function" not in script


def test_unique_body_script_splices_a_counter_and_needs_the_placeholder() -> None:
    script = lua_script(Load("/v1/x", f'{{"q":"n {COUNTER}"}}', unique=True))
    assert 'local head, tail = [====[{"q":"n ]====], [====["}]====]' in script
    assert "head .. tostring(n) .. tail" in script
    with pytest.raises(ValueError, match="placeholder"):
        lua_script(Load("/v1/x", '{"q":1}', unique=True))


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    bodies: list[bytes] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Echo.bodies.append(body)
        status = 200 if self.headers.get("Authorization") == "Bearer k" else 401
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)")
def test_real_wrk_sends_unique_bodies_and_reports_through_the_hook(echo_url: str, tmp_path: Path) -> None:
    _Echo.bodies.clear()
    load = Load("/v1/x", f'{{"q":"{COUNTER}"}}', (("Authorization", "Bearer k"),), unique=True)
    result = run_wrk(echo_url, load, connections=2, duration_s=1, workdir=tmp_path)
    assert result.requests > 0
    assert result.non_2xx == 0
    seen = [json.loads(b)["q"] for b in _Echo.bodies[:50]]
    assert len(set(seen)) == len(seen)  # every request a new prompt
    wrong = run_wrk(echo_url, Load("/v1/x", "{}"), connections=1, duration_s=1, workdir=tmp_path)
    assert wrong.non_2xx == wrong.requests > 0  # no key: every answer is a 401, and wrk counts them
