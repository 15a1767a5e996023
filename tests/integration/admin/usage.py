"""Charges written straight through the ledger, as the quota stage would after real calls."""

from __future__ import annotations

from alfred.ledger import Ledger


async def call(
    ledger: Ledger,
    user_id: int,
    request_id: str,
    cost: int,
    *,
    model: str = "gpt-4o-mini",
    provider: str = "openai",
    tokens: tuple[int, int] = (10, 20),
    key_id: int | None = None,
) -> None:
    """Reserve, then settle ``cost`` micro-credits for one request."""
    await ledger.governance.reserve(user_id, request_id, cost * 2, key_id=key_id, model=model)
    await ledger.wallets.settle(
        request_id, cost, model=model, provider=provider, prompt_tokens=tokens[0], completion_tokens=tokens[1]
    )


async def cache_hit(ledger: Ledger, user_id: int, wallet_id: int, request_id: str, cost: int) -> None:
    await ledger.wallets.charge(
        wallet_id, request_id, cost, kind="cache_hit", user_id=user_id, model="gpt-4o-mini", provider="openai"
    )
