"""API keys: ``sk-alfred-…`` tokens stored only as HMAC-SHA256 under a server secret.

The database holds the keyed hash and a short visible prefix (for people to tell keys apart), never the
key: a leaked table cannot be turned back into keys without the secret, and the hash is what lookups use.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select, update

from alfred.errors import InvalidRequestError, NotFoundError
from alfred.ledger.audit import AuditEvent, AuditLog
from alfred.ledger.tables import ApiKey, User, utc_now
from alfred.state.db import Database

KEY_PREFIX = "sk-alfred-"
VISIBLE_CHARS = 8  # of the random part, shown after KEY_PREFIX
_RANDOM_BYTES = 32
Clock = Callable[[], datetime]


class KeyHasher:
    """Keyed hashing of API keys; comparisons run in constant time."""

    def __init__(self, secret: bytes | str) -> None:
        raw = secret.encode() if isinstance(secret, str) else secret
        if len(raw) < 16:
            raise ValueError("the key hash secret must be at least 16 bytes")
        self._secret = raw

    def digest(self, key: str) -> str:
        return hmac.new(self._secret, key.encode("utf-8"), hashlib.sha256).hexdigest()

    def matches(self, key: str, stored_digest: str) -> bool:
        return hmac.compare_digest(self.digest(key), stored_digest)


def generate_key() -> tuple[str, str]:
    """A fresh key and its visible prefix (``sk-alfred-`` plus the first characters of the random part)."""
    key = KEY_PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)
    return key, key[: len(KEY_PREFIX) + VISIBLE_CHARS]


def looks_like_key(presented: str) -> bool:
    return presented.startswith(KEY_PREFIX) and len(presented) > len(KEY_PREFIX) + VISIBLE_CHARS


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A key's stored settings, never its secret."""

    id: int
    user_id: int
    name: str
    prefix: str
    is_active: bool
    expires_at: datetime | None
    revoked_at: datetime | None
    allowed_models: tuple[str, ...] | None
    budget: int | None
    spent: int
    rpm_limit: int | None
    tpm_limit: int | None
    priority: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """The key in clear, shown once at creation, and its stored settings."""

    key: str
    info: KeyInfo


@dataclass(frozen=True, slots=True)
class KeyIdentity:
    """Who a valid key speaks for: what the auth stage puts on the Call."""

    key: KeyInfo
    user_id: int
    team_id: int | None
    is_admin: bool
    priority: bool  # the key's or the user's flag


KeyRefusal = Literal["unknown", "inactive", "revoked", "expired", "suspended"]


@dataclass(frozen=True, slots=True)
class KeyCheck:
    """What a presented key is: an identity, or why it is refused (so the caller can say what to do)."""

    identity: KeyIdentity | None
    refusal: KeyRefusal | None = None


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        prefix=row.prefix,
        is_active=row.is_active,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        allowed_models=tuple(row.allowed_models) if row.allowed_models is not None else None,
        budget=row.budget,
        spent=row.spent,
        rpm_limit=row.rpm_limit,
        tpm_limit=row.tpm_limit,
        priority=row.priority,
        created_at=row.created_at,
    )


class ApiKeys:
    """Creates, authenticates and revokes API keys; creation and revocation are audited."""

    def __init__(self, db: Database, hasher: KeyHasher, audit: AuditLog, *, clock: Clock = utc_now) -> None:
        self._db = db
        self._hasher = hasher
        self._audit = audit
        self._clock = clock

    async def create(
        self,
        user_id: int,
        name: str,
        *,
        expires_at: datetime | None = None,
        allowed_models: Iterable[str] | None = None,
        budget: int | None = None,
        rpm_limit: int | None = None,
        tpm_limit: int | None = None,
        priority: bool = False,
        actor_id: int | None = None,
        ip_address: str | None = None,
    ) -> CreatedKey:
        """Make a key for ``user_id``; the clear key is in the result and nowhere else, ever."""
        if budget is not None and budget < 0:
            raise InvalidRequestError("a key budget cannot be negative", param="budget")
        for limit, param in ((rpm_limit, "rpm_limit"), (tpm_limit, "tpm_limit")):
            if limit is not None and limit <= 0:
                raise InvalidRequestError(f"{param} must be positive", param=param)
        key, prefix = generate_key()
        async with self._db.transaction() as session:
            if await session.get(User, user_id) is None:
                raise NotFoundError(f"user {user_id} does not exist", param="user_id")
            row = ApiKey(
                user_id=user_id,
                name=name,
                prefix=prefix,
                key_hash=self._hasher.digest(key),
                is_active=True,
                expires_at=expires_at,
                allowed_models=sorted(set(allowed_models)) if allowed_models is not None else None,
                budget=budget,
                spent=0,
                reserved=0,
                rpm_limit=rpm_limit,
                tpm_limit=tpm_limit,
                priority=priority,
                created_at=self._clock(),
            )
            session.add(row)
            await session.flush()
            details = {
                "key_id": row.id,
                "prefix": prefix,
                "name": name,
                "owner_id": user_id,
                "budget": budget,
            }
            await self._audit.append(
                session,
                AuditEvent(
                    "key.created", f"created key {prefix}… for user {user_id}", actor_id, details, ip_address
                ),
            )
            return CreatedKey(key, _info(row))

    async def authenticate(self, presented: str) -> KeyIdentity | None:
        """The identity behind a presented key, or None if it is unknown, inactive, revoked or expired,
        or its user is suspended."""
        return (await self.check(presented)).identity

    async def check(self, presented: str) -> KeyCheck:
        """Like ``authenticate``, but a refusal says why (the auth stage's message depends on it)."""
        if not looks_like_key(presented):
            return KeyCheck(None, "unknown")
        digest = self._hasher.digest(presented)
        async with self._db.session() as session:
            found = (
                await session.execute(
                    select(ApiKey, User)
                    .join(User, User.id == ApiKey.user_id)
                    .where(ApiKey.key_hash == digest)
                )
            ).one_or_none()
        if found is None:
            return KeyCheck(None, "unknown")
        key, user = found
        # The index found the row; the constant-time comparison is what decides.
        if not hmac.compare_digest(key.key_hash, digest):
            return KeyCheck(None, "unknown")
        if key.revoked_at is not None:
            return KeyCheck(None, "revoked")
        if not key.is_active:
            return KeyCheck(None, "inactive")
        if key.expires_at is not None and key.expires_at <= self._clock():
            return KeyCheck(None, "expired")
        if user.status == "suspended":
            return KeyCheck(None, "suspended")
        identity = KeyIdentity(
            _info(key), user.id, user.team_id, user.is_admin, key.priority or user.priority
        )
        return KeyCheck(identity)

    async def revoke(
        self, key_id: int, *, actor_id: int | None = None, ip_address: str | None = None
    ) -> KeyInfo:
        """Deactivate a key for good; revoking twice is harmless and audited once."""
        now = self._clock()
        async with self._db.transaction() as session:
            changed = (
                await session.execute(
                    update(ApiKey)
                    .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
                    .values(is_active=False, revoked_at=now)
                    .returning(ApiKey.id)
                )
            ).scalar_one_or_none()
            row = await session.get(ApiKey, key_id, populate_existing=True)
            if row is None:
                raise NotFoundError(f"key {key_id} does not exist", param="key_id")
            if changed is not None:
                details = {"key_id": key_id, "prefix": row.prefix, "owner_id": row.user_id}
                await self._audit.append(
                    session,
                    AuditEvent("key.revoked", f"revoked key {row.prefix}…", actor_id, details, ip_address),
                )
            return _info(row)

    async def get(self, key_id: int) -> KeyInfo:
        async with self._db.session() as session:
            row = await session.get(ApiKey, key_id)
            if row is None:
                raise NotFoundError(f"key {key_id} does not exist", param="key_id")
            return _info(row)

    async def list_for(self, user_id: int) -> list[KeyInfo]:
        async with self._db.replica() as session:
            rows = (
                await session.execute(select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.id))
            ).scalars()
            return [_info(r) for r in rows]
