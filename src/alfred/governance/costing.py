"""What a request may cost before it runs (the reservation) and what it did cost (the charge).

Amounts are integer micro-credits (``alfred.ledger.money``). A deployment's price is, in order: its own
or its model group's ``price`` in the gateway config, then the ledger's ``prices`` table and the list
prices of well-known models (by group name, then by upstream model), then nothing for a demo group
(answered by the mock upstream), then ``ledger.unknown_model_price``. A deployment with none of these
cannot be charged for, so its requests are refused rather than served for free.

The worst case reserved up front is the request's estimated prompt plus every output token it may
produce, at the dearest price among the deployments the router may try (the group's and its fallback
groups'): whichever one answers, the hold covers it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from alfred.errors import PermissionDeniedError
from alfred.governance.settings import QuotaSettings
from alfred.ledger.money import usd_to_micros
from alfred.ledger.pricing import PriceLike, PriceTable, cost_micros
from alfred.ledger.settings import LedgerSettings, ModelPrice
from alfred.pipeline.call import Call
from alfred.routing.catalog import Deployment, ModelCatalog, ModelGroup
from alfred.schema import ChatRequest, EmbeddingRequest, Usage
from alfred.schema.tokens import estimate_prompt_tokens, estimate_text_tokens

GroupChooser = Callable[[Call], ModelGroup]
"""The group the router will send a call to (intent rules may pick another than the one asked for)."""

FREE = ModelPrice()


class PriceNotConfiguredError(PermissionDeniedError):
    """A model with no price anywhere: serving it would spend credits the ledger cannot count."""

    code = "price_not_configured"


def _worst(prices: list[PriceLike]) -> PriceLike:
    return ModelPrice(
        input_per_mtok=max(p.input_per_mtok for p in prices),
        output_per_mtok=max(p.output_per_mtok for p in prices),
        per_image=max(p.per_image for p in prices),
    )


class Costing:
    """Prices every deployment once, at startup, so a request costs two dictionary look-ups."""

    def __init__(
        self,
        catalog: ModelCatalog,
        ledger: LedgerSettings,
        quota: QuotaSettings,
        *,
        group_for: GroupChooser | None = None,
    ) -> None:
        self._catalog = catalog
        self._quota = quota
        self._group_for = group_for
        table = PriceTable(ledger.prices, defaults=ledger.default_prices)  # its fallback is applied below
        self._unknown = ledger.unknown_model_price
        self._deployments: dict[str, PriceLike | None] = {
            d.id: self._price_of(table, group, d) for group in catalog.groups() for d in group.deployments
        }
        self._groups: dict[str, PriceLike | str] = {
            group.name: self._group_worst(group) for group in catalog.groups()
        }

    def _price_of(self, table: PriceTable, group: ModelGroup, deployment: Deployment) -> PriceLike | None:
        if deployment.price is not None:
            return deployment.price
        found = table.find(group.name) or table.find(deployment.endpoint.model)
        if found is not None:
            return found
        return FREE if group.demo else self._unknown

    def _group_worst(self, group: ModelGroup) -> PriceLike | str:
        """The dearest price the router may meet for this group, or the id of a deployment with none."""
        candidates = list(group.deployments)
        for name in group.fallbacks:
            if name in self._catalog:
                candidates.extend(self._catalog.get(name).deployments)
        prices: list[PriceLike] = []
        for deployment in candidates:
            price = self._deployments.get(deployment.id)
            if price is None:
                return deployment.id
            prices.append(price)
        return _worst(prices)

    def group_price(self, call: Call) -> PriceLike:
        """The worst-case price for this call's group; refuses a group that cannot be priced."""
        group = (
            self._group_for(call) if self._group_for is not None else self._catalog.get(call.request.model)
        )
        found = self._groups.get(group.name)
        if found is None or isinstance(found, str):
            where = f" (deployment {found})" if isinstance(found, str) else ""
            raise PriceNotConfiguredError(
                f"model '{group.name}' has no price configured{where}, so its use cannot be charged; "
                "an administrator must set its price (or ledger.unknown_model_price)",
                param="model",
            )
        return found

    def estimate(self, call: Call) -> int:
        """The worst case to reserve: every prompt token plus every output token the request allows."""
        price = self.group_price(call)
        request = call.request
        if isinstance(request, ChatRequest):
            limit = request.output_limit()
            output = self._quota.default_max_output_tokens if limit is None else limit
            return cost_micros(price, estimate_prompt_tokens(request), output * max(1, request.n or 1))
        return cost_micros(price, embedding_tokens(request))

    def actual(self, call: Call, usage: Usage) -> int | None:
        """What ``usage`` cost on the deployment that served it; None if that deployment is unknown."""
        price = self._deployments.get(call.deployment_id or "")
        if price is None:
            return None
        return cost_micros(price, usage.prompt_tokens, usage.completion_tokens)

    def cache_hit(self, call: Call, hit: Mapping[str, Any]) -> int:
        """A cache hit costs its group's cache price; with none set, nothing, or (``cache_hit_price:
        full``) what the saved usage would have cost."""
        price_usd = hit.get("price_usd")
        if isinstance(price_usd, Decimal) and price_usd > 0:
            return usd_to_micros(price_usd)
        saved = hit.get("saved_usage")
        if self._quota.cache_hit_price == "full" and isinstance(saved, Usage):
            return cost_micros(self.group_price(call), saved.prompt_tokens, saved.completion_tokens)
        return 0


def embedding_tokens(request: ChatRequest | EmbeddingRequest) -> int:
    """The input tokens of an embedding request: token ids counted, text estimated."""
    assert isinstance(request, EmbeddingRequest)
    if isinstance(request.input, list) and request.input and not isinstance(request.input[0], str):
        return sum(len(x) if isinstance(x, list) else 1 for x in request.input)
    return sum(estimate_text_tokens(t) for t in request.texts())
