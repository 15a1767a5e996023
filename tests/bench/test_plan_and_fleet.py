"""What a run measures, the environment it records, and how governance is found wired or not."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from bench.bodies import LARGE, STREAM_WORDS
from bench.environment import base_dependencies
from bench.fleet import governance_gap

from bench import plan


def test_cases_leave_out_targets_that_are_not_running() -> None:
    cases = plan.load_cases(plan.SMOKE, {"direct", "bare", "alfred"})
    assert {c.target for c in cases} == {"direct", "bare", "alfred"}
    assert {c.concurrency for c in cases if c.scenario == "passthrough"} == set(
        plan.SMOKE.passthrough_concurrency
    )
    full = plan.load_cases(plan.FULL, {"litellm", "alfred-governance"})
    assert {(c.label, c.concurrency) for c in full} >= {
        ("litellm", 128),
        ("alfred, full governance (SQLite)", 1),
    }


def test_interleaving_rotates_the_order_each_round() -> None:
    items = ["a", "b", "c"]
    assert plan.interleaved(items, 0) == ["a", "b", "c"]
    assert plan.interleaved(items, 1) == ["b", "c", "a"]
    assert plan.interleaved(items, 3) == ["a", "b", "c"]
    assert plan.interleaved([], 2) == []


def test_bodies_are_what_the_scenarios_promise() -> None:
    assert 2048 <= len(json.loads(LARGE)["messages"][0]["content"].encode()) <= 2100
    assert 1 + STREAM_WORDS + 1 == 50  # role chunk, the words, the finish chunk


def test_base_dependencies_follow_requirements_transitively_without_our_extras() -> None:
    deps = base_dependencies()
    assert {"starlette", "uvicorn", "aiohttp", "msgspec", "pydantic-core"} <= set(
        deps
    )  # pydantic-core: transitive
    assert "asyncpg" not in deps and "redis" not in deps  # extras only
    assert deps == sorted(set(deps))


class _Gateway(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wired = True

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        auth = self.headers.get("Authorization", "")
        if self.path == "/v1/chat/completions":
            ok = not _Gateway.wired or auth == "Bearer ak-new"
            self._answer(200 if ok else 401, {"ok": ok})
        elif self.path == "/admin/users" and auth == "Bearer master":
            self._answer(201, {"id": 7})
        elif self.path == "/admin/keys" and auth == "Bearer master":
            self._answer(201, {"id": 1, "key": "ak-new"})
        else:
            self._answer(404, {"error": {"message": "no route"}})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_governance_probe_creates_a_key_when_auth_is_enforced(gateway: str) -> None:
    _Gateway.wired = True
    assert governance_gap(gateway, "master") == ("ak-new",)


def test_governance_probe_explains_why_it_cannot_run(gateway: str) -> None:
    _Gateway.wired = False
    reason = governance_gap(gateway, "master")
    assert isinstance(reason, str) and "not wired" in reason
    _Gateway.wired = True
    refused = governance_gap(gateway, "wrong-master")
    assert isinstance(refused, str) and "could not create a user" in refused
