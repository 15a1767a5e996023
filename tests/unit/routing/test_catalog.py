"""The catalog's list price per group, used for figures such as what a cache hit saved."""

from __future__ import annotations

from decimal import Decimal

from alfred.config import Price
from alfred.routing.catalog import ModelCatalog, ModelGroup
from alfred.schema import Usage
from tests.unit.routing.deployments import deployment


def test_cost_at_the_group_price_else_its_first_priced_deployment() -> None:
    models = ModelCatalog(
        [
            ModelGroup("priced", "chat", (deployment("a", group="priced", input_price="9"),),
                       price=Price(input_per_mtok=Decimal("0.15"), output_per_mtok=Decimal("0.60"))),
            ModelGroup("by-deployment", "chat", (deployment("free", group="by-deployment"),
                                                 deployment("b", group="by-deployment", input_price="2",
                                                            output_price="8"))),
            ModelGroup("unpriced", "chat", (deployment("c", group="unpriced"),)),
        ]
    )  # fmt: skip
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=500_000, total_tokens=1_500_000)
    assert models.cost_usd("priced", usage) == Decimal("0.45")
    assert models.cost_usd("by-deployment", usage) == Decimal(6)
    assert models.cost_usd("unpriced", usage) is None
    assert models.cost_usd("no-such-group", usage) is None
    assert models.cost_usd("priced", Usage(prompt_tokens=40, completion_tokens=10)) == Decimal("0.000012")
