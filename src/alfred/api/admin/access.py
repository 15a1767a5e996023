"""Who may do what: the caller's ``Principal`` and the scope checks every route runs.

A global admin reaches everything. A team admin reaches their own team: its users, their keys and
wallets, the team's pool, its usage and the audit rows about it; anything else answers 404 exactly as
an id that does not exist would, so ids cannot be probed across tenants. Other callers get 403 on
``/admin`` and use ``/v1/me`` with their own key.
"""

from __future__ import annotations

from fastapi import Depends, Request

from alfred.api.admin.deps import AdminDeps, Principal, Role
from alfred.errors import AuthenticationError, NotFoundError, PermissionDeniedError, ServiceUnavailableError
from alfred.ledger import KeyInfo, TeamInfo, UserInfo, WalletInfo

# Row ids are 32-bit integer columns: anything beyond cannot exist, and the databases refuse to compare.
MAX_ID = 2**31 - 1


def deps_of(request: Request) -> AdminDeps:
    deps: AdminDeps | None = request.app.state.deps
    if deps is None:
        raise ServiceUnavailableError("the admin API is not configured on this server", code="not_configured")
    return deps


def valid_id(value: int) -> bool:
    return 0 < value <= MAX_ID


async def caller(request: Request) -> Principal:
    """Authenticate the request (401 in OpenAI format when that fails) and work out the caller's role."""
    deps = deps_of(request)
    identity = await deps.authenticate({k.lower(): v for k, v in request.headers.items()})
    if identity.kind == "anonymous":
        # The data plane may let anonymous calls through; nothing here is anonymous.
        raise AuthenticationError("this endpoint needs an API key: send it as 'Authorization: Bearer <key>'")
    user: UserInfo | None = None
    if identity.user_id is not None:
        user = await _user_of(deps, identity.user_id)
    team_id = user.team_id if user is not None else _int(identity.team_id)
    is_admin = identity.is_admin or (user is not None and user.is_admin)
    team_role_admin = user is not None and user.team_role == "admin"
    role: Role
    if is_admin and team_id is None:
        role = "global"
    elif (is_admin or team_role_admin) and team_id is not None:
        role = "team_admin"
    else:
        role = "user"
    ip = request.client.host if request.client is not None else None
    return Principal(identity, role, user, team_id, ip)


async def _user_of(deps: AdminDeps, user_id: str) -> UserInfo | None:
    # Keys carry the user's id; a JWT may carry an email instead.
    number = _int(user_id)
    if number is not None:
        if not valid_id(number):
            return None
        try:
            return await deps.ledger.directory.get_user(number)
        except NotFoundError:
            return None
    return await deps.ledger.directory.find_user(user_id)


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isascii() and value.isdigit() else None


async def admin(principal: Principal = Depends(caller)) -> Principal:
    if principal.role == "user":
        raise PermissionDeniedError(
            "this key may not use the admin API: use the master key or an admin user's key "
            "(your own data is at GET /v1/me)"
        )
    return principal


async def global_admin(principal: Principal = Depends(admin)) -> Principal:
    if principal.role != "global":
        raise PermissionDeniedError(
            "only a global admin (the master key, or an admin user without a team) may do this"
        )
    return principal


async def member(principal: Principal = Depends(caller)) -> Principal:
    """A caller who is a user (``/v1/me`` writes): the master key speaks for nobody."""
    if principal.user is None:
        raise PermissionDeniedError("this credential belongs to no user: call /v1/me with a user's own key")
    return principal


class Scope:
    """Loads objects by id for a principal, refusing (as 404) those outside a team admin's team."""

    def __init__(self, deps: AdminDeps, principal: Principal) -> None:
        self.ledger = deps.ledger
        self.principal = principal

    @property
    def limited_to(self) -> int | None:
        """The team a team admin is confined to; None for a global admin."""
        return self.principal.team_id if self.principal.role != "global" else None

    def owns_team(self, team_id: int | None) -> bool:
        return self.limited_to is None or team_id == self.limited_to

    async def team(self, team_id: int) -> TeamInfo:
        if not valid_id(team_id) or not self.owns_team(team_id):
            raise NotFoundError(f"team {team_id} does not exist", param="team_id")
        return await self.ledger.directory.get_team(team_id)

    async def user(self, user_id: int, param: str = "user_id") -> UserInfo:
        missing = NotFoundError(f"user {user_id} does not exist", param=param)
        if not valid_id(user_id):
            raise missing
        try:
            user = await self.ledger.directory.get_user(user_id)
        except NotFoundError:
            raise missing from None
        if not self.owns_team(user.team_id):
            raise missing
        return user

    async def wallet(self, wallet_id: int, param: str = "wallet_id") -> WalletInfo:
        missing = NotFoundError(f"wallet {wallet_id} does not exist", param=param)
        if not valid_id(wallet_id):
            raise missing
        try:
            wallet = await self.ledger.accounts.get(wallet_id)
        except NotFoundError:
            raise missing from None
        if self.limited_to is not None:
            if wallet.owner_type == "team":
                inside = wallet.owner_id == self.limited_to
            else:
                owner = await self.ledger.directory.get_user(wallet.owner_id)
                inside = owner.team_id == self.limited_to
            if not inside:
                raise missing
        return wallet

    async def key(self, key_id: int) -> KeyInfo:
        missing = NotFoundError(f"key {key_id} does not exist", param="key_id")
        if not valid_id(key_id):
            raise missing
        try:
            key = await self.ledger.keys.get(key_id)
        except NotFoundError:
            raise missing from None
        if self.limited_to is not None:
            try:
                await self.user(key.user_id)
            except NotFoundError:
                raise missing from None
        return key


def admin_scope(request: Request, principal: Principal = Depends(admin)) -> Scope:
    return Scope(deps_of(request), principal)


def global_scope(request: Request, principal: Principal = Depends(global_admin)) -> Scope:
    return Scope(deps_of(request), principal)
