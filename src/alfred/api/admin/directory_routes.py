"""Teams and users: create, list, read, and vacation on/off (``/admin/teams``, ``/admin/users``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from alfred.api.admin.access import Scope, admin_scope, global_scope, valid_id
from alfred.api.admin.bodies import TeamIn, UserIn, VacationIn, micros, optional_micros
from alfred.api.admin.params import Id
from alfred.api.admin.views import TeamOut, UserOut, VacationOut
from alfred.errors import NotFoundError, PermissionDeniedError
from alfred.ledger.money import format_credits

router = APIRouter(prefix="/admin")


@router.post("/teams", status_code=201, tags=["teams"])
async def create_team(body: TeamIn, scope: Scope = Depends(global_scope)) -> TeamOut:
    p = scope.principal
    team = await scope.ledger.directory.create_team(
        body.name,
        common_pool=micros(body.common_pool, "common_pool"),
        vacation_share_pct=body.vacation_share_pct,
        allow_pool=body.allow_pool,
        hard_limit=micros(body.hard_limit, "hard_limit"),
        soft_limit=optional_micros(body.soft_limit, "soft_limit"),
        actor_id=p.actor_id,
        ip_address=p.ip_address,
    )
    return TeamOut.of(team)


@router.get("/teams", tags=["teams"])
async def list_teams(scope: Scope = Depends(admin_scope)) -> list[TeamOut]:
    if scope.limited_to is not None:
        return [TeamOut.of(await scope.ledger.directory.get_team(scope.limited_to))]
    return [TeamOut.of(t) for t in await scope.ledger.directory.list_teams()]


@router.get("/teams/{team_id}", tags=["teams"])
async def get_team(team_id: Id, scope: Scope = Depends(admin_scope)) -> TeamOut:
    return TeamOut.of(await scope.team(team_id))


@router.post("/users", status_code=201, tags=["users"])
async def create_user(body: UserIn, scope: Scope = Depends(admin_scope)) -> UserOut:
    team_id = body.team_id
    if scope.limited_to is not None:
        if team_id is None:
            team_id = scope.limited_to
        elif team_id != scope.limited_to:
            raise PermissionDeniedError("a team admin may add users to their own team only", param="team_id")
        if body.is_admin:
            raise PermissionDeniedError("only a global admin may create admin users", param="is_admin")
    if team_id is not None and not valid_id(team_id):
        raise NotFoundError(f"team {team_id} does not exist", param="team_id")
    p = scope.principal
    user = await scope.ledger.directory.create_user(
        body.email,
        body.name,
        team_id=team_id,
        team_role=body.team_role,
        is_admin=body.is_admin,
        personal_quota=micros(body.personal_quota, "personal_quota"),
        priority=body.priority,
        hard_limit=micros(body.hard_limit, "hard_limit"),
        soft_limit=optional_micros(body.soft_limit, "soft_limit"),
        actor_id=p.actor_id,
        ip_address=p.ip_address,
    )
    return UserOut.of(user)


@router.get("/users", tags=["users"])
async def list_users(team_id: Id | None = None, scope: Scope = Depends(admin_scope)) -> list[UserOut]:
    if scope.limited_to is not None:
        if team_id is not None:
            await scope.team(team_id)
        team_id = scope.limited_to
    elif team_id is not None and not valid_id(team_id):
        return []
    return [UserOut.of(u) for u in await scope.ledger.directory.list_users(team_id=team_id)]


@router.get("/users/{user_id}", tags=["users"])
async def get_user(user_id: Id, scope: Scope = Depends(admin_scope)) -> UserOut:
    return UserOut.of(await scope.user(user_id))


@router.post("/users/{user_id}/vacation", tags=["users"])
async def set_vacation(user_id: Id, body: VacationIn, scope: Scope = Depends(admin_scope)) -> VacationOut:
    """Vacation on: the user lends ``vacation_share_pct`` of their unused quota to the team pool."""
    await scope.user(user_id)
    p = scope.principal
    share = await scope.ledger.governance.set_vacation(
        user_id, body.on, actor_id=p.actor_id, ip_address=p.ip_address
    )
    return VacationOut(user_id=user_id, on=body.on, share=format_credits(share), share_micros=share)
