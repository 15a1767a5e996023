"""API keys: create (the key is in the answer once), list, revoke (``/admin/keys``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from alfred.api.admin.access import MAX_ID, Scope, admin_scope, deps_of
from alfred.api.admin.bodies import KeyIn, optional_micros
from alfred.api.admin.params import Id, aware
from alfred.api.admin.reports import Reports
from alfred.api.admin.views import CreatedKeyOut, KeyOut
from alfred.errors import InvalidRequestError

router = APIRouter(prefix="/admin", tags=["keys"])


@router.get("/keys")
async def list_keys(user_id: Id | None = None, scope: Scope = Depends(admin_scope)) -> list[KeyOut]:
    if user_id is not None:
        await scope.user(user_id)
        keys = await scope.ledger.keys.list_for(user_id)
    elif scope.limited_to is not None:
        members = await Reports(scope.ledger).members(scope.limited_to)
        keys = await Reports(scope.ledger).keys(user_ids=members.users)
    else:
        keys = await Reports(scope.ledger).keys()
    return [KeyOut.of(k) for k in keys]


@router.post("/keys", status_code=201)
async def create_key(body: KeyIn, scope: Scope = Depends(admin_scope)) -> CreatedKeyOut:
    """The response carries the key itself; it is stored only as a keyed hash and cannot be shown again."""
    await scope.user(body.user_id)
    for limit, param in ((body.rpm_limit, "rpm_limit"), (body.tpm_limit, "tpm_limit")):
        if limit is not None and limit > MAX_ID:
            raise InvalidRequestError(f"{param} is out of range (at most {MAX_ID})", param=param)
    expires_at = aware(body.expires_at, "expires_at")
    if expires_at is not None and expires_at <= scope.ledger.clock():
        raise InvalidRequestError("expires_at is in the past", param="expires_at")
    p = scope.principal
    created = await scope.ledger.keys.create(
        body.user_id,
        body.name,
        expires_at=expires_at,
        allowed_models=body.allowed_models,
        budget=optional_micros(body.budget, "budget"),
        rpm_limit=body.rpm_limit,
        tpm_limit=body.tpm_limit,
        priority=body.priority,
        actor_id=p.actor_id,
        ip_address=p.ip_address,
    )
    return CreatedKeyOut(**KeyOut.fields_of(created.info), key=created.key)


@router.delete("/keys/{key_id}")
async def revoke_key(request: Request, key_id: Id, scope: Scope = Depends(admin_scope)) -> KeyOut:
    """Revoked keys fail with 401 on every gateway process within a second."""
    await scope.key(key_id)
    p = scope.principal
    info = await scope.ledger.keys.revoke(key_id, actor_id=p.actor_id, ip_address=p.ip_address)
    deps_of(request).on_key_revoked(key_id)
    return KeyOut.of(info)
