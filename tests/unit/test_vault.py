"""``vault:`` secret references against a small KV v2 server that answers as Vault's API docs say.

The fixture follows https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2 (read secret version)
and /vault/api-docs/auth/approle (login): 200 bodies with ``data.data`` and ``data.metadata.version``,
``{"errors": []}`` on 404, a 404 that still carries metadata when the latest version is deleted,
``{"errors": ["permission denied"]}`` on 403, and ``auth.client_token`` from an AppRole login.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from alfred.secrets import EnvSource, SecretError, SecretResolver
from alfred.vault import (
    AppRoleSettings,
    HvacKvReader,
    VaultReference,
    VaultSettings,
    VaultSource,
    secret_resolver,
)
from tests.servers import free_port

ROLE_ID = "4f6e0b1c-role"
SECRET_ID = "s3cr3t-id-never-logged"
ROOT_TOKEN = "hvs.root-token-never-logged"
OPENAI_KEY_V1 = "sk-live-first-value-never-logged"
OPENAI_KEY_V2 = "sk-live-rotated-value-never-logged"


@dataclass
class FakeVault:
    """The state behind the fixture server: secrets with versions, live tokens, and what was asked."""

    secrets: dict[tuple[str, str], list[dict[str, Any] | None]] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    denied_paths: set[tuple[str, str]] = field(default_factory=set)
    reads: list[tuple[str, str | None, str | None]] = field(default_factory=list)  # path, token, namespace
    logins: int = 0

    def put(self, mount: str, path: str, data: dict[str, Any]) -> int:
        versions = self.secrets.setdefault((mount, path), [])
        versions.append(data)
        return len(versions)

    def delete_latest(self, mount: str, path: str) -> None:
        self.secrets[(mount, path)][-1] = None

    def revoke_all_tokens(self) -> None:
        self.tokens.clear()


def _handler(vault: FakeVault) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            payload = json.loads(self.rfile.read(length) or b"{}")
            if self.path != "/v1/auth/approle/login":
                self._send(404, {"errors": []})
                return
            vault.logins += 1
            if payload.get("role_id") != ROLE_ID or payload.get("secret_id") != SECRET_ID:
                self._send(400, {"errors": ["invalid role or secret ID"]})
                return
            token = "hvs." + secrets.token_hex(12)
            vault.tokens.add(token)
            self._send(
                200,
                {
                    "request_id": secrets.token_hex(8),
                    "lease_id": "",
                    "renewable": False,
                    "lease_duration": 0,
                    "data": None,
                    "wrap_info": None,
                    "warnings": None,
                    "auth": {
                        "client_token": token,
                        "accessor": secrets.token_hex(8),
                        "policies": ["alfred", "default"],
                        "token_policies": ["alfred", "default"],
                        "metadata": {"role_name": "alfred"},
                        "lease_duration": 1200,
                        "renewable": True,
                        "entity_id": secrets.token_hex(8),
                        "token_type": "service",
                        "orphan": True,
                        "mfa_requirement": None,
                        "num_uses": 0,
                    },
                },
            )

        def do_GET(self) -> None:
            token = self.headers.get("X-Vault-Token")
            path = self.path.split("?", 1)[0]
            vault.reads.append((path, token, self.headers.get("X-Vault-Namespace")))
            if token not in vault.tokens:
                self._send(403, {"errors": ["permission denied"]})
                return
            prefix, sep, rest = path.removeprefix("/v1/").partition("/data/")
            if not sep:
                self._send(404, {"errors": []})
                return
            key = (prefix, rest)
            if key in vault.denied_paths:
                self._send(403, {"errors": ["1 error occurred:\n\t* permission denied\n\n"]})
                return
            versions = vault.secrets.get(key)
            if not versions:
                self._send(404, {"errors": []})
                return
            latest = versions[-1]
            metadata = {
                "created_time": "2026-01-01T00:00:00.000000Z",
                "custom_metadata": None,
                "deletion_time": "" if latest is not None else "2026-01-02T00:00:00.000000Z",
                "destroyed": False,
                "version": len(versions),
            }
            body = {
                "request_id": secrets.token_hex(8),
                "lease_id": "",
                "renewable": False,
                "lease_duration": 0,
                "data": {"data": latest, "metadata": metadata},
                "wrap_info": None,
                "warnings": None,
                "auth": None,
            }
            self._send(200 if latest is not None else 404, body)

    return Handler


@dataclass
class Server:
    url: str
    vault: FakeVault
    httpd: ThreadingHTTPServer

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    vault = FakeVault(tokens={ROOT_TOKEN})
    vault.put("secret", "alfred/openai", {"api_key": OPENAI_KEY_V1, "org": "org-1"})
    port = free_port()
    httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(vault))  # bound and listening on return
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    srv = Server(f"http://127.0.0.1:{port}", vault, httpd)
    yield srv
    if thread.is_alive():
        srv.stop()
    thread.join(timeout=5)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _token_source(server: Server, clock: Clock, **kwargs: Any) -> VaultSource:
    reader = HvacKvReader(server.url, token=ROOT_TOKEN, timeout_s=2)
    return VaultSource(reader, clock=clock, **kwargs)


def _approle_source(server: Server, clock: Clock, secret_id: str = SECRET_ID) -> VaultSource:
    reader = HvacKvReader(server.url, role_id=ROLE_ID, secret_id=secret_id, timeout_s=2)
    return VaultSource(reader, ttl_s=60, clock=clock)


def _assert_no_secret_in(message: str) -> None:
    for value in (OPENAI_KEY_V1, OPENAI_KEY_V2, ROOT_TOKEN, SECRET_ID):
        assert value not in message


def test_token_auth_reads_the_field_from_the_kv_v2_data_path(server: Server) -> None:
    source = _token_source(server, Clock())
    assert source.get("secret/alfred/openai#api_key") == OPENAI_KEY_V1
    assert source.get("secret/alfred/openai#org") == "org-1"
    assert server.vault.reads == [
        ("/v1/secret/data/alfred/openai", ROOT_TOKEN, None)
    ]  # one read for both fields
    assert source.version("secret/alfred/openai#api_key") == 1


def test_resolver_routes_the_vault_scheme_to_the_source(server: Server) -> None:
    resolver = SecretResolver({"vault": _token_source(server, Clock())})
    assert resolver.resolve("vault:secret/alfred/openai#api_key") == OPENAI_KEY_V1
    assert resolver.resolve("literal-value") == "literal-value"


def test_rotation_is_picked_up_after_the_ttl_and_not_before(server: Server) -> None:
    clock = Clock()
    source = _token_source(server, clock, ttl_s=300)
    assert source.get("secret/alfred/openai#api_key") == OPENAI_KEY_V1
    server.vault.put("secret", "alfred/openai", {"api_key": OPENAI_KEY_V2, "org": "org-1"})

    clock.now += 299.0
    assert source.get("secret/alfred/openai#api_key") == OPENAI_KEY_V1  # still cached
    assert len(server.vault.reads) == 1

    clock.now += 1.0
    assert source.get("secret/alfred/openai#api_key") == OPENAI_KEY_V2
    assert source.version("secret/alfred/openai#api_key") == 2
    assert len(server.vault.reads) == 2


async def test_aget_serves_fresh_values_without_io_and_refreshes_stale_ones(server: Server) -> None:
    clock = Clock()
    source = _token_source(server, clock, ttl_s=10)
    assert await source.aget("secret/alfred/openai#api_key") == OPENAI_KEY_V1
    assert await source.aget("secret/alfred/openai#api_key") == OPENAI_KEY_V1
    assert len(server.vault.reads) == 1
    server.vault.put("secret", "alfred/openai", {"api_key": OPENAI_KEY_V2})
    clock.now += 10
    assert await source.aget("secret/alfred/openai#api_key") == OPENAI_KEY_V2
    assert len(server.vault.reads) == 2


def test_approle_logs_in_and_again_when_its_token_expires(server: Server) -> None:
    clock = Clock()
    source = _approle_source(server, clock)
    assert source.get("secret/alfred/openai#api_key") == OPENAI_KEY_V1
    assert server.vault.logins == 1
    first_token = server.vault.reads[-1][1]
    assert first_token is not None and first_token != ROOT_TOKEN

    server.vault.revoke_all_tokens()
    server.vault.put("secret", "alfred/openai", {"api_key": OPENAI_KEY_V2})
    clock.now += 60
    assert source.get("secret/alfred/openai#api_key") == OPENAI_KEY_V2
    assert server.vault.logins == 2
    statuses = [token for _, token, _ in server.vault.reads]
    assert statuses[-2] == first_token and statuses[-1] not in (first_token, None)


def test_bad_approle_credentials_name_the_reference_not_the_secret_id(server: Server) -> None:
    source = _approle_source(server, Clock(), secret_id="wrong-" + SECRET_ID)
    with pytest.raises(SecretError) as info:
        source.get("secret/alfred/openai#api_key")
    message = str(info.value)
    assert "vault:secret/alfred/openai#api_key" in message and "AppRole login" in message
    _assert_no_secret_in(message)
    assert "wrong-" not in message


def test_missing_secret_is_a_404_error_naming_the_reference(server: Server) -> None:
    source = _token_source(server, Clock())
    with pytest.raises(SecretError) as info:
        source.get("secret/alfred/nothing-here#api_key")
    assert "vault:secret/alfred/nothing-here#api_key" in str(info.value)
    assert "404" in str(info.value)


def test_deleted_latest_version_is_an_error(server: Server) -> None:
    server.vault.put("secret", "alfred/old", {"api_key": OPENAI_KEY_V1})
    server.vault.delete_latest("secret", "alfred/old")
    with pytest.raises(SecretError) as info:
        _token_source(server, Clock()).get("secret/alfred/old#api_key")
    assert "deleted" in str(info.value)
    _assert_no_secret_in(str(info.value))


def test_forbidden_path_is_a_403_error_without_the_token(server: Server) -> None:
    server.vault.denied_paths.add(("secret", "alfred/openai"))
    with pytest.raises(SecretError) as info:
        _token_source(server, Clock()).get("secret/alfred/openai#api_key")
    message = str(info.value)
    assert "403" in message and "vault:secret/alfred/openai#api_key" in message
    _assert_no_secret_in(message)


def test_missing_field_lists_field_names_but_no_values(server: Server) -> None:
    with pytest.raises(SecretError) as info:
        _token_source(server, Clock()).get("secret/alfred/openai#apikey")
    message = str(info.value)
    assert "'apikey'" in message and "api_key, org" in message
    _assert_no_secret_in(message)
    assert "org-1" not in message


def test_outage_serves_the_last_value_until_max_stale_then_fails(server: Server) -> None:
    clock = Clock()
    source = _token_source(server, clock, ttl_s=60, max_stale_s=120)
    assert source.get("secret/alfred/openai#api_key") == OPENAI_KEY_V1
    server.stop()

    clock.now += 60
    assert source.get("secret/alfred/openai#api_key") == OPENAI_KEY_V1  # stale but served
    clock.now += 119
    assert source.get("secret/alfred/openai#api_key") == OPENAI_KEY_V1
    clock.now += 1  # ttl + max_stale since the last good read
    with pytest.raises(SecretError) as info:
        source.get("secret/alfred/openai#api_key")
    assert "unreachable" in str(info.value)
    _assert_no_secret_in(str(info.value))


def test_namespace_header_is_sent(server: Server) -> None:
    reader = HvacKvReader(server.url, token=ROOT_TOKEN, namespace="team-a", timeout_s=2)
    VaultSource(reader).get("secret/alfred/openai#api_key")
    assert server.vault.reads[-1][2] == "team-a"


@pytest.mark.parametrize("bad", ["secret#api_key", "secret/alfred/openai", "secret/alfred/openai#", "/x#y"])
def test_malformed_references_are_rejected_before_any_request(server: Server, bad: str) -> None:
    with pytest.raises(SecretError, match="MOUNT/PATH#FIELD"):
        _token_source(server, Clock()).get(bad)
    assert server.vault.reads == []


def test_reference_parsing_splits_mount_path_and_field() -> None:
    ref = VaultReference.parse("kv/teams/a/openai#key")
    assert (ref.mount, ref.path, ref.field) == ("kv", "teams/a/openai", "key")
    assert str(ref) == "vault:kv/teams/a/openai#key"


def test_settings_take_exactly_one_auth_method() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        VaultSettings()
    with pytest.raises(ValueError, match="exactly one"):
        VaultSettings(token="env:VAULT_TOKEN", approle=AppRoleSettings(role_id="r", secret_id="s"))


def test_from_settings_resolves_credentials_through_env_references(server: Server) -> None:
    resolver = SecretResolver({"env": EnvSource({"ROLE": ROLE_ID, "SECRET": SECRET_ID})})
    settings = VaultSettings(
        url=server.url, approle=AppRoleSettings(role_id="env:ROLE", secret_id="env:SECRET")
    )
    source = VaultSource.from_settings(settings, resolver)
    assert source.get("secret/alfred/openai#api_key") == OPENAI_KEY_V1
    assert server.vault.logins == 1


def test_secret_resolver_reads_vault_when_configured_and_refuses_it_otherwise(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALFRED_TEST_VAULT_TOKEN", ROOT_TOKEN)
    with pytest.raises(SecretError, match="no vault section"):
        secret_resolver(None).resolve("vault:secret/alfred/openai#api_key")
    resolver = secret_resolver(VaultSettings(url=server.url, token="env:ALFRED_TEST_VAULT_TOKEN"))
    assert resolver.resolve("vault:secret/alfred/openai#api_key") == OPENAI_KEY_V1
    assert resolver.resolve("env:ALFRED_TEST_VAULT_TOKEN") == ROOT_TOKEN
