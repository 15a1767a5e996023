"""What the admin app needs from the composition root, and who is calling it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from alfred.ledger import Ledger, UserInfo
from alfred.pipeline.call import Identity

if TYPE_CHECKING:
    from alfred.cache.build import Caches
    from alfred.images.build import ImageRuntime
    from alfred.routing.build import Routing

Authenticate = Callable[[Mapping[str, str]], Awaitable[Identity]]


@dataclass(frozen=True, slots=True)
class AdminDeps:
    """Everything ``build_admin_app`` serves from, built once by the composition root.

    ``ledger``: the governance data layer. ``authenticate``: turns a request's headers (lower-case names)
    into an ``Identity`` or raises ``alfred.errors.AuthenticationError`` (the auth stage's
    ``Authenticator.authenticate``; the master key answers ``key_id="master"``, ``is_admin=True``).
    ``on_key_revoked``: called with a key's id after ``DELETE /admin/keys/{id}`` commits, so cached
    lookups drop it (``Authenticator.invalidate_key``). ``routing`` backs ``/admin/providers`` and
    ``images`` ``/admin/images``; with None there, that endpoint answers 503 ``not_configured``.
    ``caches`` backs ``/admin/cache``; None means the cache is off (404).
    """

    ledger: Ledger
    authenticate: Authenticate
    on_key_revoked: Callable[[int], None]
    routing: Routing | None = None
    caches: Caches | None = None
    images: ImageRuntime | None = None


Role = Literal["global", "team_admin", "user"]


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller as the admin API sees it.

    ``global``: the master key, or an admin user without a team; manages everything. ``team_admin``: an
    admin user with a team (``is_admin``, or ``team_role`` admin); manages that team only. ``user``:
    anyone else; only ``/v1/me``.
    """

    identity: Identity
    role: Role
    user: UserInfo | None
    team_id: int | None
    ip_address: str | None

    @property
    def actor_id(self) -> int | None:
        """Whom audit rows name as the actor (None for the master key)."""
        return self.user.id if self.user is not None else None

    @property
    def method(self) -> str:
        """How the caller authenticated: ``master``, ``key`` or ``jwt``."""
        return self.identity.kind

    @property
    def key_id(self) -> int | None:
        key_id = self.identity.key_id
        return int(key_id) if key_id is not None and key_id.isascii() and key_id.isdigit() else None
