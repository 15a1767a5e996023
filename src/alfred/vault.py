"""``vault:MOUNT/PATH#FIELD`` secret references, read from HashiCorp Vault's KV v2 engine via hvac.

``vault:secret/alfred/openai#api_key`` reads field ``api_key`` of the latest version of the secret at
``alfred/openai`` on the KV v2 mount ``secret`` (``GET /v1/secret/data/alfred/openai``). The first
path segment is the mount. Values are cached per secret for ``ttl_s``, so a rotation in Vault reaches
the gateway within one TTL and without a restart; when Vault is unreachable the last value is served
for up to ``max_stale_s`` more, because an outage of the secret store should not take the gateway down.

Every error names the reference and never a value. hvac is imported lazily: only deployments that
configure ``vault:`` need it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alfred.secrets import SecretError, SecretResolver

log = logging.getLogger("alfred.vault")


class _Strict(BaseModel):
    # Not alfred.config.Strict: config.py imports VaultSettings from here, so this module must not import it.
    model_config = ConfigDict(extra="forbid", frozen=True)


class AppRoleSettings(_Strict):
    """AppRole credentials: a role id and a secret id, each a secret reference (env:, file:) or literal."""

    role_id: str = Field(min_length=1)
    secret_id: str = Field(min_length=1)
    mount: str = Field("approle", min_length=1, description="where the AppRole auth method is mounted")


class VaultSettings(_Strict):
    """How to reach Vault and authenticate: a token, or AppRole (which logs in again when its token expires)."""

    url: str = Field("http://127.0.0.1:8200", description="Vault's address, e.g. https://vault.internal:8200")
    namespace: str | None = Field(None, description="Vault Enterprise / HCP namespace")
    token: str | None = Field(None, description="a secret reference (env:VAULT_TOKEN, file:PATH) or literal")
    approle: AppRoleSettings | None = None
    ttl_s: float = Field(300.0, gt=0, description="how long a read value is used before Vault is asked again")
    max_stale_s: float = Field(
        3600.0, ge=0, description="how long past its TTL a value may be served while Vault is unreachable"
    )
    timeout_s: int = Field(5, ge=1, description="seconds per request to Vault")
    ca_cert: str | None = Field(None, description="CA bundle to verify Vault's TLS certificate")
    verify_tls: bool = True

    @model_validator(mode="after")
    def _one_auth_method(self) -> VaultSettings:
        if (self.token is None) == (self.approle is None):
            raise ValueError("vault: set exactly one of token (e.g. env:VAULT_TOKEN) or approle")
        return self


@dataclass(frozen=True)
class VaultReference:
    """A parsed ``MOUNT/PATH#FIELD``."""

    mount: str
    path: str
    field: str

    @classmethod
    def parse(cls, reference: str) -> VaultReference:
        location, sep, field = reference.partition("#")
        mount, slash, path = location.strip("/").partition("/")
        if not sep or not field or not slash or not mount or not path:
            raise SecretError(
                f"vault:{reference}: expected vault:MOUNT/PATH#FIELD, e.g. vault:secret/alfred/openai#api_key"
            )
        return cls(mount, path, field)

    def __str__(self) -> str:
        return f"vault:{self.mount}/{self.path}#{self.field}"


@dataclass(frozen=True)
class KvSecret:
    """One version of a KV v2 secret: its fields and its version number."""

    data: Mapping[str, Any]
    version: int


class KvReader(Protocol):
    """Reads the latest version of a KV v2 secret; raises ``SecretError`` naming ``what`` on failure."""

    def read(self, mount: str, path: str, what: str) -> KvSecret: ...


class HvacKvReader:
    """Reads KV v2 through hvac, with a token or an AppRole login (repeated once when Vault says 403)."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        role_id: str | None = None,
        secret_id: str | None = None,
        approle_mount: str = "approle",
        namespace: str | None = None,
        timeout_s: int = 5,
        verify: bool | str = True,
    ) -> None:
        import hvac

        if (token is None) == (role_id is None):
            raise ValueError("give a token or an AppRole role_id, not both")
        # An empty token (not None) keeps hvac from reading VAULT_TOKEN or ~/.vault-token behind our back.
        self._client = hvac.Client(
            url=url, token=token or "", namespace=namespace, timeout=timeout_s, verify=verify
        )
        self._role = (role_id, secret_id, approle_mount) if role_id is not None else None
        self._logged_in = False
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: VaultSettings, resolver: SecretResolver) -> HvacKvReader:
        """Build a reader, resolving the token or AppRole credentials through ``resolver`` (env:, file:)."""
        verify: bool | str = settings.ca_cert or settings.verify_tls
        common: dict[str, Any] = {
            "namespace": settings.namespace,
            "timeout_s": settings.timeout_s,
            "verify": verify,
        }
        if settings.approle is not None:
            return cls(
                settings.url,
                role_id=resolver.resolve(settings.approle.role_id),
                secret_id=resolver.resolve(settings.approle.secret_id),
                approle_mount=settings.approle.mount,
                **common,
            )
        return cls(settings.url, token=resolver.resolve(settings.token), **common)

    def read(self, mount: str, path: str, what: str) -> KvSecret:
        from hvac import exceptions

        with self._lock:
            if self._role is not None and not self._logged_in:
                self._login(what)
            try:
                return self._read(mount, path, what)
            except exceptions.Forbidden:
                if self._role is None:
                    raise SecretError(
                        f"{what}: permission denied by Vault (HTTP 403): the token has expired or its "
                        "policy does not allow reading this path"
                    ) from None
            # An AppRole token may have expired: log in again once and retry.
            self._login(what)
            try:
                return self._read(mount, path, what)
            except exceptions.Forbidden:
                raise SecretError(
                    f"{what}: permission denied by Vault (HTTP 403): the AppRole's policy does not allow "
                    "reading this path"
                ) from None

    def _login(self, what: str) -> None:
        from hvac import exceptions
        from requests import RequestException

        assert self._role is not None
        role_id, secret_id, mount = self._role
        try:
            self._client.auth.approle.login(role_id=role_id, secret_id=secret_id, mount_point=mount)
        except exceptions.VaultError as exc:
            raise SecretError(
                f"{what}: AppRole login at auth/{mount} failed ({type(exc).__name__}): check role_id and secret_id"
            ) from None
        except RequestException as exc:
            raise SecretError(f"{what}: Vault unreachable for AppRole login ({type(exc).__name__})") from None
        self._logged_in = True

    def _read(self, mount: str, path: str, what: str) -> KvSecret:
        from hvac import exceptions
        from requests import RequestException

        try:
            response = self._client.secrets.kv.v2.read_secret_version(
                path=path, mount_point=mount, raise_on_deleted_version=True
            )
        except exceptions.InvalidPath:
            raise SecretError(
                f"{what}: no such secret in Vault (HTTP 404), or its latest version is deleted"
            ) from None
        except exceptions.Forbidden:
            raise
        except exceptions.VaultError as exc:
            raise SecretError(f"{what}: Vault refused the read ({type(exc).__name__})") from None
        except RequestException as exc:
            raise SecretError(f"{what}: Vault unreachable ({type(exc).__name__})") from None
        return _parse_kv_response(response, what)


def _parse_kv_response(response: object, what: str) -> KvSecret:
    body = response if isinstance(response, dict) else {}
    outer = body.get("data")
    inner = outer.get("data") if isinstance(outer, dict) else None
    metadata = outer.get("metadata") if isinstance(outer, dict) else None
    if not isinstance(inner, dict):
        raise SecretError(f"{what}: Vault's answer has no data.data: is the mount a KV version 2 engine?")
    version = metadata.get("version") if isinstance(metadata, dict) else None
    return KvSecret(inner, version if isinstance(version, int) else 0)


@dataclass
class _Cached:
    secret: KvSecret
    fetched_at: float  # when this version was read from Vault
    due_at: float  # when to ask Vault again


class VaultSource:
    """The ``vault:`` scheme for ``SecretResolver``: KV v2 values cached per secret for ``ttl_s``."""

    # While Vault is unreachable, how often to try again (a stale value is served in between).
    RETRY_S = 30.0

    def __init__(
        self,
        reader: KvReader,
        *,
        ttl_s: float = 300.0,
        max_stale_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._reader = reader
        self._ttl_s = ttl_s
        self._max_stale_s = max_stale_s
        self._clock = clock
        self._cache: dict[tuple[str, str], _Cached] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: VaultSettings, resolver: SecretResolver) -> VaultSource:
        reader = HvacKvReader.from_settings(settings, resolver)
        return cls(reader, ttl_s=settings.ttl_s, max_stale_s=settings.max_stale_s)

    def get(self, reference: str) -> str:
        """The field's value; asks Vault (blocking) when the cached secret is older than the TTL."""
        ref = VaultReference.parse(reference)
        cached = self._cache.get((ref.mount, ref.path))
        if cached is None or self._clock() >= cached.due_at:
            cached = self._refresh(ref)
        return _field(cached.secret, ref)

    async def aget(self, reference: str) -> str:
        """``get`` for the event loop: a fresh value costs no I/O, a stale one is read in a thread."""
        ref = VaultReference.parse(reference)
        cached = self._cache.get((ref.mount, ref.path))
        if cached is not None and self._clock() < cached.due_at:
            return _field(cached.secret, ref)
        return await asyncio.to_thread(self.get, reference)

    def version(self, reference: str) -> int | None:
        """The cached version of the secret a reference names (None before its first read)."""
        ref = VaultReference.parse(reference)
        cached = self._cache.get((ref.mount, ref.path))
        return None if cached is None else cached.secret.version

    def _refresh(self, ref: VaultReference) -> _Cached:
        key = (ref.mount, ref.path)
        with self._lock:
            now = self._clock()
            cached = self._cache.get(key)
            if cached is not None and now < cached.due_at:
                return cached  # another thread refreshed it while this one waited
            try:
                secret = self._reader.read(ref.mount, ref.path, str(ref))
            except SecretError as exc:
                if cached is None or now - cached.fetched_at >= self._ttl_s + self._max_stale_s:
                    raise
                log.warning("serving the last value of %s past its TTL: %s", ref, exc)
                limit = cached.fetched_at + self._ttl_s + self._max_stale_s
                cached.due_at = min(now + min(self._ttl_s, self.RETRY_S), limit)
                return cached
            if cached is not None and cached.secret.version != secret.version:
                log.info("%s rotated: version %d -> %d", ref, cached.secret.version, secret.version)
            fresh = _Cached(secret, fetched_at=now, due_at=now + self._ttl_s)
            self._cache[key] = fresh
            return fresh


def _field(secret: KvSecret, ref: VaultReference) -> str:
    value = secret.data.get(ref.field)
    if value is None:
        fields = ", ".join(sorted(secret.data)) or "none"
        raise SecretError(
            f"{ref}: the secret (version {secret.version}) has no field {ref.field!r}; fields: {fields}"
        )
    if not isinstance(value, str):
        raise SecretError(f"{ref}: field {ref.field!r} is a {type(value).__name__}, not a string")
    if not value:
        raise SecretError(f"{ref}: field {ref.field!r} is empty")
    return value


def secret_resolver(vault: VaultSettings | None) -> SecretResolver:
    """The resolver a deployment uses: ``env:`` and ``file:`` always, ``vault:`` when Vault is configured.

    Vault's own credentials are references too (``env:VAULT_TOKEN``), resolved by a plain resolver.
    """
    if vault is None:
        return SecretResolver({"vault": _NoVault()})
    return SecretResolver({"vault": VaultSource.from_settings(vault, SecretResolver())})


class _NoVault:
    """Refuses ``vault:`` references when no Vault is configured, rather than passing them on as literals."""

    def get(self, reference: str) -> str:
        raise SecretError(f"vault:{reference}: no vault section in the config (url and token or approle)")
