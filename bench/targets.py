"""The servers compared: Alfred (one per config), the bare proxy, and LiteLLM's proxy when it installs.

Each ``start_*`` returns a started, ready ``Server`` pinned to the server core; its ``url`` is what
clients call (``/v1/chat/completions`` below it).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.servers import ROOT, SERVER_CORE, Server, free_port, start

CONFIGS = ROOT / "bench" / "configs"
LITELLM_VENV = ROOT / "bench" / ".venv-litellm"
# 1.109.1 failed to install here (certifi); 1.107.0 was a compromised release. 1.106.12 installs.
LITELLM_VERSION = "1.106.12"


@dataclass(frozen=True)
class Upstreams:
    """Where the fixed-reply upstream (nginx) and the streaming mock listen."""

    fixed: str
    stream: str


def alfred_env(upstreams: Upstreams, workdir: Path, name: str) -> dict[str, str]:
    return {
        "BENCH_UPSTREAM_URL": upstreams.fixed,
        "BENCH_MOCK_URL": upstreams.stream,
        "BENCH_LEDGER_URL": f"sqlite+aiosqlite:///{workdir / (name + '-ledger.db')}",
        "BENCH_MASTER_KEY": "sk-bench-master-" + secrets.token_hex(8),
        "BENCH_KEY_HASH_SECRET": secrets.token_hex(16),
    }


def start_alfred(
    name: str,
    config: str,
    upstreams: Upstreams,
    workdir: Path,
    logs: Path,
    *,
    workers: int = 1,
    cores: str | None = SERVER_CORE,
    extra_env: dict[str, str] | None = None,
) -> Server:
    """``alfred serve`` on ``bench/configs/<config>.yaml``."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [
        sys.executable,
        "-m",
        "alfred",
        "serve",
        "--config",
        str(CONFIGS / f"{config}.yaml"),
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--workers",
        str(workers),
    ]
    env = {**alfred_env(upstreams, workdir, name), **(extra_env or {})}
    return start(name, args, f"{url}/health/live", url, logs, cores=cores, env=env)


def start_bare(name: str, upstream: str, logs: Path) -> Server:
    """The bare pass-through proxy in front of ``upstream``."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "bench.bare_proxy", "--port", str(port), "--upstream", upstream]
    return start(name, args, f"{url}/health", url, logs)


def litellm_binary() -> Path:
    return LITELLM_VENV / "bin" / "litellm"


def ensure_litellm(log: Path) -> str | None:
    """Install the pinned LiteLLM proxy into bench/.venv-litellm; returns why it cannot be used, or None."""
    if litellm_binary().exists():
        return None
    with log.open("ab") as out:
        steps = [
            [sys.executable, "-m", "venv", str(LITELLM_VENV)],
            [str(LITELLM_VENV / "bin" / "pip"), "install", "--quiet", f"litellm[proxy]=={LITELLM_VERSION}"],
        ]
        for step in steps:
            done = subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, timeout=900, check=False)  # noqa: S603
            if done.returncode != 0:
                return f"`{' '.join(step[-2:])}` failed with exit {done.returncode} (see {log.name})"
    return None if litellm_binary().exists() else "the litellm entry point is missing after install"


def litellm_version() -> str | None:
    dist = LITELLM_VENV / "lib"
    found = sorted(dist.glob("python3*/site-packages/litellm-*.dist-info"))
    return found[-1].name.removeprefix("litellm-").removesuffix(".dist-info") if found else None


def litellm_config(upstreams: Upstreams) -> dict[str, object]:
    def model(name: str, base: str) -> dict[str, object]:
        return {
            "model_name": name,
            "litellm_params": {
                "model": "openai/gpt-4o-mini",
                "api_base": f"{base}/v1",
                "api_key": "sk-bench",
            },
        }

    return {
        "model_list": [model("gpt-4o-mini", upstreams.fixed), model("stream-mock", upstreams.stream)],
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
        "litellm_settings": {"telemetry": False, "drop_params": True},
    }


def start_litellm(upstreams: Upstreams, workdir: Path, logs: Path) -> Server:
    """LiteLLM's proxy, one worker, no database, master key from LITELLM_MASTER_KEY."""
    conf = workdir / "litellm.json"
    conf.write_text(json.dumps(litellm_config(upstreams)))  # JSON is YAML: litellm reads it as its config
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "LITELLM_MASTER_KEY": "sk-bench-litellm",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no network fetch of the price map at start
        "LITELLM_LOG": "ERROR",
        "DISABLE_SCHEMA_UPDATE": "True",
        "PATH": f"{LITELLM_VENV / 'bin'}:{os.environ.get('PATH', '')}",
    }
    args = [
        str(litellm_binary()),
        "--config",
        str(conf),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]
    return start("litellm", args, f"{url}/health/liveliness", url, logs, env=env, deadline_s=120)
