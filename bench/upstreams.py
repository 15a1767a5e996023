"""The upstreams: nginx answering a fixed chat.completion (never the bottleneck) and the streaming mock."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from bench.servers import LOAD_CORE, Server, free_port, start

# What every non-streaming request gets back: a real chat.completion, so gateways parse it fully.
COMPLETION = {
    "id": "chatcmpl-bench0000000000",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "The quick brown fox jumps over the lazy dog."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 10, "total_tokens": 22},
}

NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location / {{
            default_type application/json;
            return 200 '{body}';
        }}
    }}
}}
"""


def nginx_config(prefix: Path, port: int) -> str:
    body = json.dumps(COMPLETION, separators=(",", ":"))
    return NGINX_CONF.format(prefix=prefix, port=port, body=body)


def start_nginx(workdir: Path, logs: Path) -> Server:
    """nginx with one worker on the load core, serving COMPLETION for every path."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    prefix = workdir / "nginx"
    prefix.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_config(prefix, port))
    url = f"http://127.0.0.1:{port}"
    return start(
        "nginx",
        [binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
        url,
        url,
        logs,
        cores=LOAD_CORE,
    )


def start_mock(logs: Path) -> Server:
    """Alfred's mock upstream (Python), used for streaming: it speaks SSE with real pacing."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "alfred", "mock-upstream", "--port", str(port)]
    return start("mock-upstream", args, f"{url}/mock/stats", url, logs, cores=LOAD_CORE)
