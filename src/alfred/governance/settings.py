"""The ``governance:`` config section: the ledger's database, how callers authenticate, how quota is held."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from alfred.configbase import Strict
from alfred.ledger.settings import LedgerSettings

Algorithm = Literal["HS256", "RS256"]


class JwtSettings(Strict):
    """JWT bearer tokens whose claims name the user (and optionally team and admin flag)."""

    enabled: bool = False
    algorithms: tuple[Algorithm, ...] = ("HS256",)
    secret: str | None = Field(None, description="HS256 shared secret; a secret reference or literal")
    jwks_file: str | None = Field(None, description="RS256 public keys as a JWKS JSON file")
    jwks_url: str | None = Field(None, description="RS256 public keys fetched from a JWKS URL")
    issuer: str | None = None
    audience: str | None = None
    user_claim: str = Field("sub", description="claim holding the user's id or email")
    team_claim: str = "team"
    admin_claim: str = "admin"
    leeway_s: int = Field(30, ge=0, le=600)

    @model_validator(mode="after")
    def _has_keys(self) -> JwtSettings:
        if not self.enabled:
            return self
        if "HS256" in self.algorithms and not self.secret:
            raise ValueError("jwt.secret is required for HS256")
        if "RS256" in self.algorithms and not (self.jwks_file or self.jwks_url):
            raise ValueError("jwt.jwks_file or jwt.jwks_url is required for RS256")
        return self


class AuthSettings(Strict):
    """How the auth stage decides who is calling."""

    anonymous: bool = Field(
        False,
        description=(
            "let requests without an Alfred key through as anonymous (no wallet, no quota); a key that "
            "looks like an Alfred key but is unknown, revoked or expired is still refused"
        ),
    )
    key_cache_ttl_s: float = Field(
        1.0, gt=0, le=60, description="how long a key lookup is reused; bounds how late a revocation lands"
    )
    key_cache_size: int = Field(10_000, ge=1)
    jwt: JwtSettings = Field(default_factory=JwtSettings)


class QuotaSettings(Strict):
    """How the quota stage reserves and charges."""

    enabled: bool = True
    default_max_output_tokens: int = Field(
        4096, ge=1, description="worst-case completion length reserved when a request sets no max_tokens"
    )
    cache_hit_price: Literal["free", "full"] = Field(
        "free", description="what a cache hit costs when its model group sets no cache price"
    )


class GovernanceSettings(Strict):
    """Users, teams, keys, wallets and the credit ledger at request time. Off by default."""

    enabled: bool = False
    migrate_on_start: bool = Field(True, description="run the ledger's migrations when the server starts")
    ledger: LedgerSettings = Field(default_factory=LedgerSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    quota: QuotaSettings = Field(default_factory=QuotaSettings)
