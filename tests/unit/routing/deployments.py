"""Small factories for catalog deployments in routing tests."""

from __future__ import annotations

from decimal import Decimal

from alfred.config import Price
from alfred.providers.base import Endpoint
from alfred.providers.registry import adapter_for
from alfred.providers.transport import Timeouts
from alfred.routing.catalog import Deployment


def deployment(
    name: str,
    *,
    group: str = "chat",
    weight: int = 1,
    input_price: str | None = None,
    output_price: str | None = None,
    sla_ms: int | None = None,
    rpm: int | None = None,
    tpm: int | None = None,
) -> Deployment:
    price = None
    if input_price is not None or output_price is not None:
        price = Price(input_per_mtok=Decimal(input_price or 0), output_per_mtok=Decimal(output_price or 0))
    return Deployment(
        id=f"{group}/{name}/model",
        group=group,
        endpoint=Endpoint(provider=name, kind="openai", base_url="http://127.0.0.1:1/v1", model="model"),
        adapter=adapter_for("openai"),
        timeouts=Timeouts(),
        weight=weight,
        price=price,
        sla_ms=sla_ms,
        rpm=rpm,
        tpm=tpm,
    )
