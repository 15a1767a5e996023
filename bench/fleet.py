"""Everything a run starts, held together: upstreams, proxies, gateways, and why any were left out.

A target that cannot start (LiteLLM not installable, governance not wired yet) is recorded in
``skipped`` with the reason, and every scenario simply leaves it out: no figure is ever invented.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import bodies
from bench import scratch as scratch_db
from bench.scratch import Scratch
from bench.servers import Server
from bench.targets import (
    Upstreams,
    ensure_litellm,
    start_alfred,
    start_bare,
    start_litellm,
)
from bench.upstreams import start_mock, start_nginx

# Alfred's feature configs (bench/configs/<name>.yaml), each its own process.
FEATURE_CONFIGS = ("defaults", "safety", "cache", "semantic", "governance", "governance-pg")


@dataclass
class Fleet:
    """Started servers by name, the bearer key each expects, and targets skipped with their reason."""

    workdir: Path
    logs: Path
    servers: dict[str, Server] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    scratch: Scratch | None = None

    def headers(self, name: str) -> tuple[tuple[str, str], ...]:
        key = self.keys.get(name, "sk-bench")
        return (("Content-Type", "application/json"), ("Authorization", f"Bearer {key}"))

    def has(self, name: str) -> bool:
        return name in self.servers

    def stop(self) -> None:
        for server in reversed(list(self.servers.values())):
            with contextlib.suppress(Exception):
                server.stop()
        self.servers.clear()
        if self.scratch is not None:
            with contextlib.suppress(Exception):
                scratch_db.drop(self.scratch)
            self.scratch = None

    def log_tail(self, name: str, chars: int = 400) -> str:
        log = self.logs / f"{name}.log"
        return log.read_text(errors="replace")[-chars:].strip() if log.exists() else ""


def start_fleet(workdir: Path, *, litellm: bool, features: tuple[str, ...] = FEATURE_CONFIGS) -> Fleet:
    """Start the upstreams, the bare proxies, Alfred (pass-through and each feature) and LiteLLM."""
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    fleet = Fleet(workdir, logs)
    try:
        fleet.servers["direct"] = start_nginx(workdir, logs)
        fleet.servers["direct-stream"] = start_mock(logs)
        upstreams = Upstreams(fleet.servers["direct"].url, fleet.servers["direct-stream"].url)
        _pace_mock(fleet.servers["direct-stream"].url)
        fleet.servers["bare"] = start_bare("bare", upstreams.fixed, logs)
        fleet.servers["bare-stream"] = start_bare("bare-stream", upstreams.stream, logs)
        fleet.servers["alfred"] = start_alfred("alfred", "passthrough", upstreams, workdir, logs)
        for feature in features:
            name = f"alfred-{feature}"
            extra: dict[str, str] = {}
            if feature == "governance-pg":
                made = scratch_db.create()
                if isinstance(made, str):
                    fleet.skipped[name] = made
                    continue
                fleet.scratch, extra = made, made.env
            try:
                fleet.servers[name] = start_alfred(name, feature, upstreams, workdir, logs, extra_env=extra)
            except RuntimeError as exc:
                fleet.skipped[name] = str(exc)
        for name in ("alfred-governance", "alfred-governance-pg"):
            if name in fleet.servers:
                _seed_governance(fleet, name)
        if litellm:
            _add_litellm(fleet, upstreams)
        else:
            fleet.skipped["litellm"] = "left out of this run (--smoke or --no-litellm)"
    except BaseException:
        fleet.stop()
        raise
    return fleet


def _pace_mock(url: str) -> None:
    # 1 ms between chunks, as a model would pace them: a proxy that buffers then shows bunched chunks.
    httpx.post(f"{url}/mock/faults", json={"slow_chunk_ms": 1}, timeout=5).raise_for_status()


def _add_litellm(fleet: Fleet, upstreams: Upstreams) -> None:
    why = ensure_litellm(fleet.logs / "litellm-install.log")
    if why is not None:
        fleet.skipped["litellm"] = f"could not be installed: {why}"
        return
    try:
        fleet.servers["litellm"] = start_litellm(upstreams, fleet.workdir, fleet.logs)
        fleet.keys["litellm"] = "sk-bench-litellm"
    except RuntimeError as exc:
        fleet.skipped["litellm"] = str(exc)


def _seed_governance(fleet: Fleet, name: str) -> None:
    """Create a user with credits and a key through the admin API; skip the target when it cannot be done."""
    server = fleet.servers[name]
    reason = governance_gap(server.url, server.env["BENCH_MASTER_KEY"])
    if isinstance(reason, str):
        fleet.skipped[name] = reason
        server.stop()
        del fleet.servers[name]
        return
    fleet.keys[name] = reason[0]


def governance_gap(url: str, master_key: str) -> str | tuple[str]:
    """The reason governance cannot be benchmarked on ``url``, or (the key to send,) when it can."""
    chat = f"{url}/v1/chat/completions"
    body = bodies.SMALL.encode()
    json_headers = {"Content-Type": "application/json"}
    try:
        anonymous = httpx.post(chat, content=body, headers=json_headers, timeout=30)
        if anonymous.status_code == 200:
            return "governance is not wired into the app yet: a request without a key was answered 200"
        admin = {"Authorization": f"Bearer {master_key}"}
        users = httpx.post(
            f"{url}/admin/users",
            json={
                "email": f"bench-{secrets.token_hex(4)}@example.com",
                "name": "bench",
                "personal_quota": "1000000000",
            },
            headers=admin,
            timeout=30,
        )
        if users.status_code not in (200, 201):
            return f"the admin API could not create a user: POST /admin/users → {users.status_code} {users.text[:200]}"
        created = httpx.post(
            f"{url}/admin/keys",
            json={"user_id": users.json()["id"], "name": "bench"},
            headers=admin,
            timeout=30,
        )
        if created.status_code not in (200, 201) or not isinstance(created.json().get("key"), str):
            return f"the admin API could not create a key: POST /admin/keys → {created.status_code} {created.text[:200]}"
        key = str(created.json()["key"])
        probe = httpx.post(
            chat, content=body, headers={**json_headers, "Authorization": f"Bearer {key}"}, timeout=30
        )
        if probe.status_code != 200:
            return f"a request with the new key was refused: {probe.status_code} {probe.text[:200]}"
        return (key,)
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        return f"governance probe failed: {exc!r}"
