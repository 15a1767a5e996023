"""JwtVerifier with real tokens: HS256, RS256 from a JWKS file and URL, lifetime, issuer, audience, attacks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt import PyJWKClient
from jwt.algorithms import RSAAlgorithm
from pydantic import ValidationError

from alfred.errors import AuthenticationError, ServiceUnavailableError
from alfred.governance.jwt import JwtVerifier, TokenClaims
from alfred.governance.settings import GovernanceSettings, JwtSettings
from alfred.secrets import EnvSource, SecretResolver

SECRET = "hs256-shared-secret-of-32-bytes-or-more!"  # pragma: allowlist secret
OTHER_SECRET = "another-secret-that-is-32-bytes-long!"  # pragma: allowlist secret
SECRET_REF = "env:ALFRED_JWT_SECRET"  # pragma: allowlist secret


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks_of(key: rsa.RSAPrivateKey, kid: str = "k1") -> dict[str, Any]:
    public = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {"keys": [{**public, "kid": kid, "use": "sig", "alg": "RS256"}]}


def claims(**extra: Any) -> dict[str, Any]:
    return {"sub": "ada@example.com", "exp": int(time.time()) + 300, **extra}


def hs256(payload: dict[str, Any], secret: str = SECRET) -> str:
    return jwt.encode(payload, secret, algorithm="HS256")


def rs256(payload: dict[str, Any], key: rsa.RSAPrivateKey, kid: str | None = "k1") -> str:
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(payload, key, algorithm="RS256", headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(header: dict[str, Any], payload: dict[str, Any], mac_key: bytes | None) -> str:
    """A token made by hand, the way an attacker would (pyjwt refuses to make these)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = b64(hmac.new(mac_key, signing_input.encode(), hashlib.sha256).digest()) if mac_key else ""
    return f"{signing_input}.{signature}"


def hs_verifier(**settings: Any) -> JwtVerifier:
    return JwtVerifier(JwtSettings(enabled=True, secret=SECRET, **settings), secret=SECRET)


def rs_verifier(tmp_path: Path, key: rsa.RSAPrivateKey, **settings: Any) -> JwtVerifier:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks_of(key)))
    return JwtVerifier.from_settings(
        JwtSettings(
            enabled=True, algorithms=settings.pop("algorithms", ("RS256",)), jwks_file=str(path), **settings
        )
    )


async def refused(verifier: JwtVerifier, token: str) -> str:
    with pytest.raises(AuthenticationError) as caught:
        await verifier.verify(token)
    assert caught.value.status == 401 and token not in caught.value.message
    return caught.value.message


async def test_hs256_claims_map_to_user_team_admin() -> None:
    verifier = hs_verifier()
    exp = int(time.time()) + 300
    got = await verifier.verify(hs256({"sub": "ada@example.com", "team": 7, "admin": True, "exp": exp}))
    assert got == TokenClaims("ada@example.com", "7", True, float(exp))
    custom = hs_verifier(user_claim="email", team_claim="grp", admin_claim="is_admin")
    got = await custom.verify(hs256(claims(email=42, grp="ml", is_admin="true")))
    assert (got.user, got.team, got.admin) == ("42", "ml", False)  # only a JSON true grants admin


async def test_hs256_refuses_a_wrong_secret_and_a_tampered_payload() -> None:
    verifier = hs_verifier()
    await refused(verifier, hs256(claims(), secret=OTHER_SECRET))
    head, _, sig = hs256(claims()).split(".")
    tampered = f"{head}.{b64(json.dumps(claims(admin=True)).encode())}.{sig}"
    assert "Signature verification failed" in await refused(verifier, tampered)


async def test_lifetime_is_checked_with_leeway() -> None:
    now = int(time.time())
    verifier = hs_verifier(leeway_s=30)
    assert (await verifier.verify(hs256(claims(exp=now - 10)))).user == "ada@example.com"
    assert "expired" in await refused(verifier, hs256(claims(exp=now - 60)))
    assert "not yet valid" in await refused(verifier, hs256(claims(nbf=now + 120)))
    assert "exp" in await refused(verifier, hs256({"sub": "ada@example.com"}))  # tokens must expire


async def test_issuer_and_audience_must_match_when_configured() -> None:
    verifier = hs_verifier(issuer="https://idp.example.com", audience="alfred")
    good = claims(iss="https://idp.example.com", aud="alfred")
    assert (await verifier.verify(hs256(good))).user == "ada@example.com"
    assert "issuer" in (await refused(verifier, hs256({**good, "iss": "https://evil.example.com"}))).lower()
    assert "audience" in (await refused(verifier, hs256({**good, "aud": "someone-else"}))).lower()
    await refused(verifier, hs256(claims(aud="alfred")))  # no issuer at all
    await refused(verifier, hs256(claims(iss="https://idp.example.com")))  # no audience at all


async def test_a_token_without_a_user_is_refused() -> None:
    assert "names no user" in await refused(hs_verifier(), hs256({"exp": int(time.time()) + 60}))
    assert "names no user" in await refused(hs_verifier(), hs256(claims(sub="")))


async def test_alg_none_is_refused(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    unsigned = forged({"alg": "none", "typ": "JWT"}, claims(admin=True), None)
    assert "algorithm" in await refused(hs_verifier(), unsigned)
    assert "algorithm" in await refused(rs_verifier(tmp_path, rsa_key), unsigned)
    assert "algorithm" in await refused(hs_verifier(), forged({"alg": "None"}, claims(), None))


async def test_rs256_from_a_jwks_file(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    verifier = rs_verifier(tmp_path, rsa_key)
    assert (await verifier.verify(rs256(claims(team="ml"), rsa_key))).team == "ml"
    assert (
        await verifier.verify(rs256(claims(), rsa_key, kid=None))
    ).user == "ada@example.com"  # the only key
    assert "Signature verification failed" in await refused(verifier, rs256(claims(), other_rsa_key))
    assert "no known signing key" in await refused(verifier, rs256(claims(), rsa_key, kid="k2"))
    assert "algorithm" in await refused(verifier, hs256(claims()))  # HS256 is not configured


async def test_an_rs256_public_key_is_never_an_hs256_secret(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    jwk_json = json.dumps(jwks_of(rsa_key)["keys"][0]).encode()
    for mac_key in (pem, jwk_json):
        confused = forged({"alg": "HS256", "typ": "JWT", "kid": "k1"}, claims(admin=True), mac_key)
        await refused(rs_verifier(tmp_path, rsa_key), confused)
        # Both configured: an HS256 token is checked against the HS256 secret, never the RSA key.
        both = rs_verifier(tmp_path, rsa_key, algorithms=("HS256", "RS256"), secret=SECRET)
        assert "Signature verification failed" in await refused(both, confused)
    both = rs_verifier(tmp_path, rsa_key, algorithms=("HS256", "RS256"), secret=SECRET)
    assert (await both.verify(hs256(claims()))).user == (await both.verify(rs256(claims(), rsa_key))).user


class JwksServer:
    """A JWKS endpoint on a local port, counting its fetches."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.fetches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                body = json.dumps(outer.document).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"


@pytest.fixture
def jwks_server(rsa_key: rsa.RSAPrivateKey) -> Iterator[JwksServer]:
    served = JwksServer(jwks_of(rsa_key))
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.server.shutdown()
        served.server.server_close()
        thread.join(timeout=10)


async def test_rs256_from_a_jwks_url_is_fetched_once_and_cached(
    jwks_server: JwksServer, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    verifier = JwtVerifier.from_settings(
        JwtSettings(enabled=True, algorithms=("RS256",), jwks_url=jwks_server.url)
    )
    for n in range(3):
        assert (await verifier.verify(rs256(claims(sub=str(n)), rsa_key))).user == str(n)
    assert jwks_server.fetches == 1
    # Tokens naming unknown keys cannot make Alfred hammer the identity provider: refetches cool down.
    await refused(verifier, rs256(claims(), rsa_key, kid="rotated"))
    await refused(verifier, rs256(claims(), rsa_key, kid="rotated-again"))
    await refused(verifier, rs256(claims(), other_rsa_key))
    assert jwks_server.fetches == 1


async def test_a_rotated_jwks_key_is_picked_up(
    jwks_server: JwksServer, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    settings = JwtSettings(enabled=True, algorithms=("RS256",), jwks_url=jwks_server.url)
    verifier = JwtVerifier(settings, jwks_client=PyJWKClient(jwks_server.url, cooldown_duration=0))
    assert (await verifier.verify(rs256(claims(), rsa_key))).user == "ada@example.com"
    jwks_server.document = jwks_of(other_rsa_key, kid="k2")
    assert (
        await verifier.verify(rs256(claims(sub="bob@example.com"), other_rsa_key, kid="k2"))
    ).user == "bob@example.com"
    assert jwks_server.fetches == 2


async def test_an_unreachable_jwks_url_is_a_503(rsa_key: rsa.RSAPrivateKey) -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as closed:
        port = closed.server_address[1]  # bound, then closed: nothing listens there
    settings = JwtSettings(enabled=True, algorithms=("RS256",), jwks_url=f"http://127.0.0.1:{port}/jwks")
    with pytest.raises(ServiceUnavailableError):
        await JwtVerifier.from_settings(settings).verify(rs256(claims(), rsa_key))


def test_a_short_secret_or_no_keys_are_refused_at_startup() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        JwtVerifier(JwtSettings(enabled=True, secret="short"), secret="short")  # pragma: allowlist secret
    with pytest.raises(ValueError, match="jwks"):
        JwtVerifier(JwtSettings(enabled=True, algorithms=("HS256",), secret=SECRET).model_copy(
            update={"algorithms": ("RS256",)}), secret=None)  # fmt: skip


async def test_a_resolved_secret_verifies_tokens() -> None:
    resolver = SecretResolver({"env": EnvSource({"ALFRED_JWT_SECRET": SECRET})})
    verifier = JwtVerifier.from_settings(JwtSettings(enabled=True, secret=SECRET_REF), resolver.resolve)
    assert (await verifier.verify(hs256(claims()))).user == "ada@example.com"
    await refused(verifier, hs256(claims(), secret=SECRET_REF + "-taken-as-a-literal-secret"))


def test_the_jwt_settings_live_under_governance_auth() -> None:
    gov = GovernanceSettings.model_validate({"auth": {"jwt": {"enabled": True, "secret": SECRET_REF}}})
    assert gov.auth.jwt.enabled and gov.auth.jwt.algorithms == ("HS256",)
    with pytest.raises(ValidationError, match=r"jwt\.secret is required"):
        GovernanceSettings.model_validate({"auth": {"jwt": {"enabled": True}}})
    with pytest.raises(ValidationError, match=r"jwks_file or jwt\.jwks_url"):
        GovernanceSettings.model_validate({"auth": {"jwt": {"enabled": True, "algorithms": ["RS256"]}}})
