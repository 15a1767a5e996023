"""JWT bearer tokens: signature, issuer, audience and lifetime checked with ``pyjwt``; claims name the user.

The accepted algorithms come from config and nothing else: a token's header picks among them, never adds
to them, so ``alg: none`` is refused, and so is algorithm confusion (an RS256 public key is never used as
an HS256 secret: each algorithm has its own key). Tokens must carry ``exp``.

RS256 keys come from a JWKS file (read once at startup) or URL (``PyJWKClient``: the key set is cached
for ``jwks_lifespan_s``, refetched at most every 30 s when a token names an unknown ``kid``; fetches run in
a worker thread so they never block the event loop).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from jwt import PyJWK, PyJWKClient, PyJWKClientConnectionError, PyJWKClientError, PyJWKSet

from alfred.errors import ServiceUnavailableError
from alfred.governance.refusal import Resolve, refused
from alfred.governance.settings import JwtSettings
from alfred.secrets import SecretResolver

MIN_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key must be at least as long as the hash
JWKS_LIFESPAN_S = 300.0
JWKS_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a verified token says about its bearer (names per the configured claims)."""

    user: str  # a user id or an email address
    team: str | None
    admin: bool
    expires_at: float  # unix seconds


class JwtVerifier:
    """Verifies bearer JWTs against the configured algorithms and keys."""

    def __init__(
        self,
        settings: JwtSettings,
        *,
        secret: str | None = None,
        jwks: PyJWKSet | None = None,
        jwks_client: PyJWKClient | None = None,
    ) -> None:
        if "HS256" in settings.algorithms:
            if secret is None:
                raise ValueError("jwt.secret is required for HS256")
            if len(secret.encode()) < MIN_SECRET_BYTES:
                raise ValueError(f"jwt.secret must be at least {MIN_SECRET_BYTES} bytes for HS256")
        if "RS256" in settings.algorithms and jwks is None and jwks_client is None:
            raise ValueError("jwt.jwks_file or jwt.jwks_url is required for RS256")
        self._settings = settings
        self._algorithms = frozenset(settings.algorithms)
        self._secret = secret
        self._jwks = jwks
        self._client = jwks_client
        required = ["exp"]
        required += ["iss"] if settings.issuer else []
        required += ["aud"] if settings.audience else []
        self._options: Any = {"require": required}

    @classmethod
    def from_settings(cls, settings: JwtSettings, resolve: Resolve | None = None) -> JwtVerifier:
        """Build from config, resolving the secret reference and reading the JWKS file (blocking: startup only)."""
        secret = (resolve or SecretResolver().resolve)(settings.secret)
        jwks = None
        client = None
        if "RS256" in settings.algorithms:
            if settings.jwks_file:
                jwks = PyJWKSet.from_dict(json.loads(Path(settings.jwks_file).read_text(encoding="utf-8")))
            elif settings.jwks_url:
                client = PyJWKClient(settings.jwks_url, lifespan=JWKS_LIFESPAN_S, timeout=JWKS_TIMEOUT_S)
        return cls(settings, secret=secret, jwks=jwks, jwks_client=client)

    async def verify(self, token: str) -> TokenClaims:
        """The token's claims, or ``AuthenticationError`` saying what is wrong with it."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise refused("invalid bearer token: not a well-formed JWT") from None
        alg = header.get("alg")
        if alg not in self._algorithms:
            accepted = ", ".join(sorted(self._algorithms))
            raise refused(
                f"invalid bearer token: its signing algorithm is not accepted here (accepted: {accepted})"
            )
        # Each algorithm verifies with its own key only: this is what defeats algorithm confusion.
        key: Any = self._secret if alg == "HS256" else (await self._rsa_key(header)).key
        s = self._settings
        try:
            claims = jwt.decode(
                token, key, algorithms=[alg], options=self._options, issuer=s.issuer, audience=s.audience,
                leeway=s.leeway_s,
            )  # fmt: skip
        except jwt.ExpiredSignatureError:
            raise refused(
                "the bearer token has expired: get a fresh one from your identity provider"
            ) from None
        except jwt.InvalidTokenError as exc:
            raise refused(f"invalid bearer token: {exc}") from None
        return self._claims(claims)

    async def _rsa_key(self, header: Mapping[str, Any]) -> PyJWK:
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise refused("invalid bearer token: its key id (kid) is not a string")
        found: PyJWK | None = None
        if self._jwks is not None:
            keys = self._jwks.keys
            found = next((k for k in keys if k.key_id == kid), None)
            if found is None and kid is None and len(keys) == 1:
                found = keys[0]
        elif self._client is not None:
            try:
                # may fetch the key set: a blocking HTTP call, so off the event loop
                found = await asyncio.to_thread(self._client.get_signing_key, kid)  # type: ignore[arg-type]
            except PyJWKClientConnectionError as exc:
                raise ServiceUnavailableError(
                    "cannot fetch the JWT signing keys (JWKS)", retryable=False
                ) from exc
            except PyJWKClientError:
                found = None
        if found is None:
            raise refused("invalid bearer token: no known signing key matches its key id (kid)")
        if found.key_type != "RSA":
            raise refused("invalid bearer token: its signing key is not an RSA key")
        return found

    def _claims(self, claims: Mapping[str, Any]) -> TokenClaims:
        s = self._settings
        user = claims.get(s.user_claim)
        if isinstance(user, bool) or not isinstance(user, str | int) or user == "":
            raise refused(f"invalid bearer token: it names no user (claim {s.user_claim!r})")
        team = claims.get(s.team_claim)
        team_id = (
            str(team) if isinstance(team, str | int) and not isinstance(team, bool) and team != "" else None
        )
        # Only a JSON true grants admin: "false", 0 or a list of roles do not.
        admin = claims.get(s.admin_claim) is True
        return TokenClaims(str(user), team_id, admin, float(claims["exp"]))
