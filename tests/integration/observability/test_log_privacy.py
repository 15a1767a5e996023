"""A real gateway's logs, after requests carrying API keys and PII, hold none of them.

The gateway runs with ``--log-level info`` and its stdout and stderr go to a file; requests use the
OpenAI and Anthropic wire formats, streams and errors included, and carry a key in ``Authorization``
or ``x-api-key`` and an email and a card number in their text. Then the whole log is searched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import ROOT, free_port, mock_upstream, wait_http

USER_KEY = "sk-alfred-live-7Hq2Xv9Lp4Zr8Nw3Bt6Ky1Mc5Dd0Fe"
ANTHROPIC_STYLE_KEY = "sk-ant-api03-Qw7Er4Ty1Ui8Op5As2Df9Gh6Jk3Lz0Xc"
EMAIL = "jane.roe@acme-mail.com"
CARD = "4539 1488 0343 6467"
CARD_DIGITS = CARD.replace(" ", "")
TEXT = f"Please email {EMAIL} that the card {CARD} was charged."


@pytest.fixture(scope="module")
def logged_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    log_file = tmp_path_factory.mktemp("logs") / "gateway.log"
    port = free_port()
    with mock_upstream() as mock_url, log_file.open("wb") as out:
        env = {**os.environ, "ALFRED_MOCK_URL": mock_url, "ALFRED_MASTER_KEY": "sk-master-Zx81Yw72Vu63Ts54"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "alfred", "serve", "--config", str(ROOT / "examples/mock.yaml"),
             "--port", str(port), "--log-level", "info"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            wait_http(f"{url}/health/live", proc=proc)
            yield url, log_file
        finally:
            proc.terminate()
            proc.wait(timeout=15)


def send_requests(url: str) -> list[str]:
    ids = []
    bearer = {"authorization": f"Bearer {USER_KEY}"}
    chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": TEXT}], "user": EMAIL}
    with httpx.Client(base_url=url, timeout=30) as client:

        def post(path: str, body: dict, headers: dict[str, str], rid: str) -> None:
            ids.append(rid)
            with client.stream("POST", path, json=body, headers={**headers, "x-request-id": rid}) as response:
                response.read()

        post("/v1/chat/completions", chat, bearer, "privacy-chat")
        post("/v1/chat/completions", {**chat, "stream": True}, bearer, "privacy-stream")
        post(
            "/v1/chat/completions",
            {**chat, "model": "claude-3-5-haiku", "stream": True},
            bearer,
            "privacy-stream-2",
        )
        post("/v1/embeddings", {"model": "text-embedding-3-small", "input": TEXT}, bearer, "privacy-embed")
        post("/v1/messages", {"model": "claude-3-5-haiku", "max_tokens": 50,
                              "messages": [{"role": "user", "content": TEXT}]},
             {"x-api-key": ANTHROPIC_STYLE_KEY, "anthropic-version": "2023-06-01"}, "privacy-messages")  # fmt: skip
        # errors: a model name that is PII itself, malformed JSON around PII, an oversized field
        post("/v1/chat/completions", {**chat, "model": EMAIL}, bearer, "privacy-unknown-model")
        ids.append("privacy-bad-json")
        client.post("/v1/chat/completions", content=f'{{"model": "{CARD}", "messages": [', headers={
            **bearer, "content-type": "application/json", "x-request-id": "privacy-bad-json"})  # fmt: skip
        post("/v1/chat/completions", {**chat, "temperature": EMAIL}, bearer, "privacy-bad-type")
    return ids


def request_lines(log_file: Path, want: set[str]) -> dict[str, dict]:
    found = {}
    for raw in log_file.read_text(encoding="utf-8", errors="replace").splitlines():
        if raw.startswith("{"):
            line = json.loads(raw)
            if line.get("event") == "request" and line.get("request_id") in want:
                found[line["request_id"]] = line
    return found


def test_no_key_or_pii_reaches_the_logs(logged_gateway: tuple[str, Path]) -> None:
    url, log_file = logged_gateway
    ids = send_requests(url)
    # the lines are written by a background thread: poll the file for all of them
    deadline = time.monotonic() + 15
    lines = request_lines(log_file, set(ids))
    while len(lines) < len(ids) and time.monotonic() < deadline:
        time.sleep(0.05)
        lines = request_lines(log_file, set(ids))
    assert set(lines) == set(ids), f"missing request lines: {set(ids) - set(lines)}"
    assert lines["privacy-chat"]["model"] == "gpt-4o-mini" and lines["privacy-chat"]["status"] == 200
    assert lines["privacy-stream"]["ttft_ms"] is not None and lines["privacy-stream"]["prompt_tokens"] > 0
    assert lines["privacy-unknown-model"]["status"] == 404 and "model" not in lines["privacy-unknown-model"]
    log = log_file.read_text(encoding="utf-8", errors="replace")
    for secret in (USER_KEY, ANTHROPIC_STYLE_KEY, "sk-master-Zx81Yw72Vu63Ts54", "sk-mock-openai", "sk-ant-mock",
                   EMAIL, CARD, CARD_DIGITS, "acme-mail", "Please email"):  # fmt: skip
        assert secret not in log, f"{secret!r} found in the gateway's log"
