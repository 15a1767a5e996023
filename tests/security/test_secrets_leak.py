"""Keys and secrets never leave the gateway: a whole session is run with known secrets, then
everything it produced (its log output, every response body and header, /metrics) is searched.

The secrets are fresh random tokens each run: provider keys and the Bedrock secret from the config,
the master key, two client keys, and an AWS secret access key pasted into a prompt. Requests cover
every model (so every adapter signs or sends its key), streams, errors from the gateway and from
upstream, and a refused prompt; the log runs at info with prompt logging on, its most talkative.
"""

from __future__ import annotations

import secrets
import string
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.security.conftest import logged_gateway
from tests.servers import ROOT, mock_upstream


def _token(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _aws_secret() -> str:
    alphabet = string.ascii_letters + string.digits + "/+"
    return "".join(secrets.choice(alphabet) for _ in range(40))


def _config(tmp: Path, mock: str, provider_keys: dict[str, str], bedrock_secret: str) -> Path:
    config = yaml.safe_load((ROOT / "examples/mock.yaml").read_text())
    for name, provider in config["providers"].items():
        if name in provider_keys:
            provider["api_key"] = provider_keys[name]
        provider["base_url"] = provider["base_url"].replace("${ALFRED_MOCK_URL}", mock)
    config["providers"]["bedrock"]["options"]["secret_access_key"] = bedrock_secret
    config["observability"] = {"logging": {"log_prompts": True}}
    path = tmp / "leak.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _session(url: str, mock: str, client_keys: list[str], aws_secret: str) -> list[str]:
    """Drive the gateway; returns every response's status line, headers and body as text."""
    seen: list[str] = []

    def keep(response: httpx.Response) -> httpx.Response:
        seen.append(f"{response.status_code} {dict(response.headers)} {response.text}")
        return response

    bearer = {"authorization": f"Bearer {client_keys[0]}"}
    x_api_key = {"x-api-key": client_keys[1]}
    with httpx.Client(base_url=url, timeout=30) as client:
        models = keep(client.get("/v1/models", headers=bearer)).json()["data"]
        for model in models:
            name, kind = model["id"], model["alfred"]["kind"]
            if kind == "embeddings":
                keep(
                    client.post(
                        "/v1/embeddings", json={"model": name, "input": ["leak check"]}, headers=bearer
                    )
                )
                continue
            ask: dict[str, Any] = {"model": name, "messages": [{"role": "user", "content": "leak check"}]}
            assert keep(client.post("/v1/chat/completions", json=ask, headers=bearer)).status_code == 200, (
                name
            )
            with client.stream(
                "POST", "/v1/chat/completions", json={**ask, "stream": True}, headers=bearer
            ) as s:
                s.read()
                keep(s)
            message = {
                "model": name,
                "max_tokens": 32,
                "messages": [{"role": "user", "content": "leak check"}],
            }
            keep(client.post("/v1/messages", json=message, headers=x_api_key))
        # A prompt carrying an AWS secret key is refused (safety: block) and must not be echoed.
        pasted = {
            "model": "gpt-4o-mini",
            "messages": [
                {
                    "role": "user",
                    "content": (
                        f"here are my creds: aws_access_key_id=AKIAIOSFODNN7EXAMPLE aws_secret_access_key={aws_secret}"
                    ),
                }
            ],
        }
        refused = keep(client.post("/v1/chat/completions", json=pasted, headers=bearer))
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "content_policy_violation"
        # Gateway errors and upstream errors, with a key on each.
        keep(client.post("/v1/chat/completions", json={"model": "nope", "messages": []}, headers=bearer))
        keep(client.post("/v1/chat/completions", content=b"{not json", headers=bearer))
        for status in (401, 403, 429, 500):
            httpx.post(f"{mock}/mock/faults", json={"status": status, "count": 3}, timeout=5)
            keep(
                client.post(
                    "/v1/chat/completions",
                    json={
                        "model": "claude-3-5-haiku",
                        "messages": [{"role": "user", "content": "upstream error"}],
                    },
                    headers=bearer,
                )
            )
            keep(
                client.post(
                    "/v1/chat/completions",
                    json={
                        "model": "gpt-4o-mini",
                        "messages": [{"role": "user", "content": "upstream error"}],
                    },
                    headers=x_api_key,
                )
            )
            httpx.delete(f"{mock}/mock/faults", timeout=5)
        keep(client.get("/metrics"))
        keep(client.get("/health/ready"))
    return seen


def test_no_key_or_secret_appears_in_logs_errors_or_metrics(tmp_path: Path) -> None:
    provider_keys = {
        name: _token(f"sk-{name}-leak-")
        for name in (
            "openai",
            "azure",
            "groq",
            "together",
            "mistral",
            "huggingface",
            "anthropic",
            "gemini",
            "cohere",
        )
    }
    bedrock_secret = _aws_secret()
    master_key = _token("sk-master-leak-")
    client_keys = [_token("sk-client-leak-"), _token("sk-client2-leak-")]
    aws_secret = _aws_secret()
    log = tmp_path / "gateway.log"
    with mock_upstream() as mock:
        config = _config(tmp_path, mock, provider_keys, bedrock_secret)
        env = {"ALFRED_MASTER_KEY": master_key, "ALFRED_ROUTING__BREAKER__ENABLED": "false"}
        with logged_gateway(config, env, log_level="info", log_file=log) as (url, _):
            seen = _session(url, mock, client_keys, aws_secret)
    produced = {
        "log": log.read_text(errors="replace"),
        **{f"response {i}": text for i, text in enumerate(seen)},
    }
    assert '"event":"request"' in produced["log"], (
        "the session must have been logged for this test to mean anything"
    )
    secrets_used = {
        **{f"{name} provider key": key for name, key in provider_keys.items()},
        "bedrock secret": bedrock_secret,
        "master key": master_key,
        "client key": client_keys[0],
        "second client key": client_keys[1],
        "AWS secret in a prompt": aws_secret,
    }
    leaks = [
        f"{what} in {where}"
        for what, secret in secrets_used.items()
        for where, text in produced.items()
        if any(secret[i : i + 16] in text for i in range(0, len(secret) - 15))  # any 16-character piece
    ]
    assert leaks == []
