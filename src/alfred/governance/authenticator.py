"""Who is calling: the master key, an Alfred API key, a JWT bearer token, or (when allowed) nobody.

The credential is ``Authorization: Bearer …`` or, as Anthropic clients send it, ``x-api-key``.

Lookups are cached in process, keyed by a keyed hash of the credential (never the credential itself): a
valid key for ``key_cache_ttl_s`` (default 1 s, which bounds how late a revocation or expiry lands in
other processes), a refused one just as briefly and in a separate LRU, so a flood of bad keys neither
reaches the database on every request nor pushes valid keys out. ``invalidate_key`` drops a key in this
process at once (the admin API calls it on revoke). Concurrent misses on one credential share one lookup.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from alfred.errors import AuthenticationError, NotFoundError, ServiceUnavailableError
from alfred.governance.refusal import Resolve, refused
from alfred.governance.settings import AuthSettings
from alfred.ledger.directory import Directory, UserInfo
from alfred.ledger.keys import ApiKeys, KeyIdentity, KeyRefusal, looks_like_key
from alfred.ledger.service import Ledger
from alfred.pipeline.call import Identity

if TYPE_CHECKING:
    from alfred.governance.jwt import JwtVerifier

log = logging.getLogger("alfred.auth")

Clock = Callable[[], float]  # monotonic seconds

MASTER_KEY_ID = "master"

_KEY_REFUSALS: dict[KeyRefusal, str] = {
    "unknown": "invalid API key: no such key. Check that it was copied whole, or ask an administrator for one",
    "revoked": "this API key has been revoked: ask an administrator for a new one",
    "inactive": "this API key is inactive: ask an administrator to enable it or to issue a new one",
    "expired": "this API key has expired: ask an administrator for a new one",
    "suspended": "the user this API key belongs to is suspended: contact an administrator",
}
_MISSING = (
    "missing API key: send it as 'Authorization: Bearer <key>' (or in the 'x-api-key' header); "
    "ask an administrator for one"
)
_NOT_A_KEY = "invalid API key: Alfred keys start with 'sk-alfred-'; ask an administrator for one"


_IDENTITY_FIELDS = tuple(f.name for f in fields(Identity))


class _Entry:
    """A cached outcome: an identity, or (``identity`` None) a refusal and its message."""

    __slots__ = ("deadline", "identity", "message", "values")

    def __init__(self, identity: Identity | None, message: str, deadline: float) -> None:
        self.identity = identity
        self.message = message
        self.deadline = deadline
        # Every hit hands out a fresh copy (stages may write to their call's identity); building one
        # from its field values costs a fraction of dataclasses.replace.
        self.values: tuple[Any, ...] = (
            tuple(getattr(identity, n) for n in _IDENTITY_FIELDS) if identity is not None else ()
        )


def credential(headers: Mapping[str, str]) -> str | None:
    """The presented credential: a bearer token, else the ``x-api-key`` header (lower-case names)."""
    auth = headers.get("authorization")
    if auth and auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return headers.get("x-api-key", "").strip() or None


def key_identity(found: KeyIdentity) -> Identity:
    key = found.key
    return Identity(
        key_id=str(key.id),
        key_prefix=key.prefix,
        user_id=str(found.user_id),
        team_id=str(found.team_id) if found.team_id is not None else None,
        is_admin=found.is_admin,
        allowed_models=frozenset(key.allowed_models) if key.allowed_models is not None else None,
        priority=found.priority,
        rpm_limit=key.rpm_limit,
        tpm_limit=key.tpm_limit,
        budget=key.budget,
        kind="key",
    )


class Authenticator:
    """Turns request headers into an ``Identity``, or refuses with 401 (see the module docstring)."""

    def __init__(
        self,
        settings: AuthSettings,
        keys: ApiKeys,
        *,
        directory: Directory | None = None,
        master_key: str | None = None,
        jwt: JwtVerifier | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        if jwt is not None and directory is None:
            raise ValueError("JWT authentication needs the ledger directory to find users")
        if settings.jwt.enabled and jwt is None:
            # Fail loudly: silently ignoring configured JWT auth would refuse every token with no hint why.
            raise ValueError(
                "governance.auth.jwt is enabled but no JwtVerifier was given (see from_settings)"
            )
        self._settings = settings
        self._keys = keys
        self._directory = directory
        self._master = master_key.encode() if master_key else None
        self._jwt = jwt
        self._clock = clock
        self._ttl = settings.key_cache_ttl_s
        # A per-instance random key: the cache is private to this process, so nobody else needs it.
        self._hash_key = secrets.token_bytes(32)
        self._valid: OrderedDict[bytes, _Entry] = OrderedDict()
        self._refused: OrderedDict[bytes, _Entry] = OrderedDict()
        self._inflight: dict[bytes, asyncio.Future[_Entry]] = {}
        self._epoch = 0  # bumped by invalidation, so a lookup that started before it is not cached

    @classmethod
    def from_settings(
        cls,
        settings: AuthSettings,
        ledger: Ledger,
        *,
        master_key: str | None = None,
        resolve: Resolve | None = None,
        clock: Clock = time.monotonic,
    ) -> Authenticator:
        """Wire one over a ledger: its keys and directory, and a JWT verifier when ``jwt`` is enabled
        (``resolve`` turns the JWT secret reference into the secret; reading a JWKS file blocks)."""
        verifier = None
        if settings.jwt.enabled:
            from alfred.governance.jwt import JwtVerifier  # PyJWT and cryptography only when JWT is on

            verifier = JwtVerifier.from_settings(settings.jwt, resolve)
        return cls(
            settings,
            ledger.keys,
            directory=ledger.directory,
            master_key=master_key,
            jwt=verifier,
            clock=clock,
        )

    async def authenticate(self, headers: Mapping[str, str]) -> Identity:
        """Who sent these (lower-cased) headers; ``AuthenticationError`` (401) when nobody acceptable."""
        presented = credential(headers)
        if presented is None:
            if self._settings.anonymous:
                return Identity()
            raise refused(_MISSING)
        if self._master is not None and hmac.compare_digest(presented.encode(), self._master):
            return Identity(key_id=MASTER_KEY_ID, is_admin=True, kind="master")
        is_key = looks_like_key(presented)
        is_jwt = not is_key and self._jwt is not None and presented.count(".") == 2
        if not (is_key or is_jwt):
            if self._settings.anonymous:
                return Identity()
            raise refused(_NOT_A_KEY)
        digest = hashlib.blake2b(presented.encode(), key=self._hash_key, digest_size=16).digest()
        entry = self._hit(digest) or await self._miss(digest, presented, is_jwt)
        if entry.identity is None:
            raise refused(entry.message)
        return Identity(*entry.values)

    def invalidate_key(self, key_id: int | str) -> None:
        """Forget a key in this process now (other processes follow within ``key_cache_ttl_s``)."""
        wanted = str(key_id)
        self._epoch += 1
        for digest in [d for d, e in self._valid.items() if e.identity and e.identity.key_id == wanted]:
            del self._valid[digest]

    def clear(self) -> None:
        """Forget every cached lookup (say, after a user was suspended)."""
        self._epoch += 1
        self._valid.clear()
        self._refused.clear()

    def _hit(self, digest: bytes) -> _Entry | None:
        now = self._clock()
        for cache in (self._valid, self._refused):
            entry = cache.get(digest)
            if entry is not None:
                if entry.deadline > now:
                    cache.move_to_end(digest)
                    return entry
                del cache[digest]
        return None

    async def _miss(self, digest: bytes, presented: str, is_jwt: bool) -> _Entry:
        pending = self._inflight.get(digest)
        if pending is None:
            pending = asyncio.ensure_future(self._lookup(digest, presented, is_jwt))
            self._inflight[digest] = pending
            pending.add_done_callback(lambda done: self._settled(digest, done))
        # shielded: one caller giving up (a client disconnect) must not cancel the others' lookup
        return await asyncio.shield(pending)

    def _settled(self, digest: bytes, done: asyncio.Future[_Entry]) -> None:
        self._inflight.pop(digest, None)
        if not done.cancelled():
            done.exception()  # marks it retrieved: every waiter may have gone (their error is logged)

    async def _lookup(self, digest: bytes, presented: str, is_jwt: bool) -> _Entry:
        epoch = self._epoch
        # Stamped before the read: a revocation committed after it lands within one TTL of the read.
        deadline = self._clock() + self._ttl
        try:
            entry = await (
                self._by_token(presented, deadline) if is_jwt else self._by_key(presented, deadline)
            )
        except (SQLAlchemyError, OSError) as exc:
            log.error("cannot authenticate: the ledger database is unavailable", exc_info=True)
            raise ServiceUnavailableError(
                "cannot check the API key right now: the ledger is unavailable", retryable=False
            ) from exc
        if epoch == self._epoch:
            cache = self._valid if entry.identity is not None else self._refused
            cache[digest] = entry
            if len(cache) > self._settings.key_cache_size:
                cache.popitem(last=False)
        return entry

    async def _by_key(self, presented: str, deadline: float) -> _Entry:
        checked = await self._keys.check(presented)
        if checked.identity is None:
            return _Entry(None, _KEY_REFUSALS[checked.refusal or "unknown"], deadline)
        return _Entry(key_identity(checked.identity), "", deadline)

    async def _by_token(self, token: str, deadline: float) -> _Entry:
        assert self._jwt is not None and self._directory is not None
        try:
            claims = await self._jwt.verify(token)
        except AuthenticationError as exc:
            return _Entry(None, exc.message, deadline)
        user = await self._user(claims.user)
        # Never cache a token past its own expiry.
        deadline = min(deadline, self._clock() + max(0.0, claims.expires_at - time.time()))
        if user is None:
            shown = claims.user[:64]
            return _Entry(
                None,
                f"the bearer token's user {shown!r} is not known here: ask an administrator to add them",
                deadline,
            )
        if user.status == "suspended":
            return _Entry(
                None, "the user this bearer token names is suspended: contact an administrator", deadline
            )
        # The ledger's team is the one quota charges; the token's team claim fills in only when it has none.
        team_id = str(user.team_id) if user.team_id is not None else claims.team
        identity = Identity(
            user_id=str(user.id),
            team_id=team_id,
            is_admin=user.is_admin or claims.admin,
            priority=user.priority,
            kind="jwt",
        )
        return _Entry(identity, "", deadline)

    async def _user(self, claim: str) -> UserInfo | None:
        assert self._directory is not None
        if "@" in claim:
            return await self._directory.find_user(claim)
        if claim.isascii() and claim.isdigit() and len(claim) <= 18:  # fits a 64-bit id column
            try:
                return await self._directory.get_user(int(claim))
            except NotFoundError:
                return None
        return None
