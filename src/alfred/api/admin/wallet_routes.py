"""Wallets: read, change limits, top up, move credits (``/admin/wallets``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header

from alfred.api.admin.access import Scope, admin_scope, global_scope
from alfred.api.admin.bodies import LimitsIn, TopupIn, TransferIn, micros, optional_micros
from alfred.api.admin.params import Id
from alfred.api.admin.views import PostingOut, WalletOut

router = APIRouter(prefix="/admin", tags=["wallets"])
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)]


@router.get("/wallets/{wallet_id}")
async def get_wallet(wallet_id: Id, scope: Scope = Depends(admin_scope)) -> WalletOut:
    return WalletOut.of(await scope.wallet(wallet_id))


@router.patch("/wallets/{wallet_id}")
async def set_limits(wallet_id: Id, body: LimitsIn, scope: Scope = Depends(admin_scope)) -> WalletOut:
    """Change the hard limit (the floor), the soft limit (warning level) or the status."""
    await scope.wallet(wallet_id)
    changes: dict[str, Any] = {
        "hard_limit": optional_micros(body.hard_limit, "hard_limit"),
        "status": body.status,
    }
    if body.clear_soft_limit:
        changes["soft_limit"] = None
    elif body.soft_limit is not None:
        changes["soft_limit"] = micros(body.soft_limit, "soft_limit")
    p = scope.principal
    wallet = await scope.ledger.accounts.set_limits(
        wallet_id, actor_id=p.actor_id, ip_address=p.ip_address, **changes
    )
    return WalletOut.of(wallet)


@router.post("/wallets/{wallet_id}/topup")
async def topup(
    wallet_id: Id,
    body: TopupIn,
    idempotency_key: IdempotencyKey = None,
    scope: Scope = Depends(global_scope),
) -> PostingOut:
    """New credits from outside (global admins only: it creates money). Idempotent with a key."""
    await scope.wallet(wallet_id)
    p = scope.principal
    posting = await scope.ledger.accounts.topup(
        wallet_id,
        micros(body.amount, "amount"),
        actor_id=p.actor_id,
        memo=body.memo,
        idempotency_key=idempotency_key or body.idempotency_key,
        ip_address=p.ip_address,
    )
    return PostingOut.of(posting)


@router.post("/wallets/transfer")
async def transfer(
    body: TransferIn,
    idempotency_key: IdempotencyKey = None,
    scope: Scope = Depends(admin_scope),
) -> PostingOut:
    """Both sides move in one transaction; a team admin may move credits only between their team's wallets."""
    await scope.wallet(body.from_wallet, param="from_wallet")
    await scope.wallet(body.to_wallet, param="to_wallet")
    p = scope.principal
    posting = await scope.ledger.accounts.transfer(
        body.from_wallet,
        body.to_wallet,
        micros(body.amount, "amount"),
        actor_id=p.actor_id,
        memo=body.memo,
        idempotency_key=idempotency_key or body.idempotency_key,
        ip_address=p.ip_address,
    )
    return PostingOut.of(posting)
