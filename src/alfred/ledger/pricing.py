"""Prices in USD per 1M tokens (and per image) → costs in micro-credits, rounded up to the micro-credit.

1 USD = 100 credits = 10⁸ micro-credits, so a price of P USD per 1M tokens is exactly 100·P
micro-credits per token: costs are computed in Decimal and rounded up once, at the end.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_CEILING, Context, Decimal
from types import MappingProxyType
from typing import Protocol

from alfred.errors import AlfredError
from alfred.ledger.money import MICROS_PER_USD
from alfred.ledger.settings import LedgerSettings, ModelPrice

_MICROS_PER_TOKEN_PER_MTOK_USD = Decimal(MICROS_PER_USD) / Decimal(1_000_000)  # = 100
_CONTEXT = Context(prec=60)  # token counts * prices never come near 60 digits


class PriceLike(Protocol):
    """Anything with the three price fields (``ModelPrice`` here, ``alfred.config.Price`` in settings)."""

    @property
    def input_per_mtok(self) -> Decimal: ...
    @property
    def output_per_mtok(self) -> Decimal: ...
    @property
    def per_image(self) -> Decimal: ...


def _p(input_usd: str, output_usd: str = "0", image_usd: str = "0") -> ModelPrice:
    return ModelPrice(
        input_per_mtok=Decimal(input_usd), output_per_mtok=Decimal(output_usd), per_image=Decimal(image_usd)
    )


# Public list prices (USD per 1M tokens; per image for image models) of well-known models. They change:
# config `prices` override them, and `default_prices: false` drops them.
DEFAULT_PRICES: Mapping[str, ModelPrice] = MappingProxyType(
    {
        "gpt-4o": _p("2.50", "10.00"),
        "gpt-4o-mini": _p("0.15", "0.60"),
        "gpt-4.1": _p("2.00", "8.00"),
        "gpt-4.1-mini": _p("0.40", "1.60"),
        "gpt-4.1-nano": _p("0.10", "0.40"),
        "gpt-4-turbo": _p("10.00", "30.00"),
        "gpt-3.5-turbo": _p("0.50", "1.50"),
        "o1": _p("15.00", "60.00"),
        "o3-mini": _p("1.10", "4.40"),
        "o4-mini": _p("1.10", "4.40"),
        "text-embedding-3-small": _p("0.02"),
        "text-embedding-3-large": _p("0.13"),
        "text-embedding-ada-002": _p("0.10"),
        "claude-3-5-sonnet": _p("3.00", "15.00"),
        "claude-3-7-sonnet": _p("3.00", "15.00"),
        "claude-sonnet-4": _p("3.00", "15.00"),
        "claude-3-5-haiku": _p("0.80", "4.00"),
        "claude-3-haiku": _p("0.25", "1.25"),
        "claude-3-opus": _p("15.00", "75.00"),
        "claude-opus-4": _p("15.00", "75.00"),
        "gemini-1.5-flash": _p("0.075", "0.30"),
        "gemini-1.5-pro": _p("1.25", "5.00"),
        "gemini-2.0-flash": _p("0.10", "0.40"),
        "mistral-small-latest": _p("0.20", "0.60"),
        "mistral-large-latest": _p("2.00", "6.00"),
        "command-r": _p("0.15", "0.60"),
        "command-r-plus": _p("2.50", "10.00"),
        "llama3-8b-8192": _p("0.05", "0.08"),
        "llama3-70b-8192": _p("0.59", "0.79"),
        "dall-e-3": _p("0", "0", "0.040"),
        "dall-e-2": _p("0", "0", "0.020"),
        "stability-ai/sdxl": _p("0", "0", "0.0023"),
    }
)


def cost_micros(price: PriceLike, prompt_tokens: int = 0, completion_tokens: int = 0, images: int = 0) -> int:
    """The cost of a usage at ``price`` in micro-credits, rounded up."""
    if min(prompt_tokens, completion_tokens, images) < 0:
        raise ValueError("token and image counts cannot be negative")
    per_token = _MICROS_PER_TOKEN_PER_MTOK_USD
    total = _CONTEXT.add(
        _CONTEXT.add(
            _CONTEXT.multiply(price.input_per_mtok * per_token, Decimal(prompt_tokens)),
            _CONTEXT.multiply(price.output_per_mtok * per_token, Decimal(completion_tokens)),
        ),
        _CONTEXT.multiply(price.per_image * MICROS_PER_USD, Decimal(images)),
    )
    return int(total.to_integral_value(rounding=ROUND_CEILING))


class PriceTable:
    """Looks up a model's price (config first, then list prices) and turns usage into micro-credits."""

    def __init__(
        self,
        prices: Mapping[str, PriceLike] | None = None,
        *,
        defaults: bool = True,
        fallback: PriceLike | None = None,
    ) -> None:
        table: dict[str, PriceLike] = dict(DEFAULT_PRICES) if defaults else {}
        table.update(prices or {})
        self._prices = table
        self._fallback = fallback

    @classmethod
    def from_settings(
        cls, settings: LedgerSettings, extra: Mapping[str, PriceLike] | None = None
    ) -> PriceTable:
        """Prices from the ledger settings; ``extra`` (e.g. per model group from the gateway config) wins."""
        prices: dict[str, PriceLike] = dict(settings.prices)
        prices.update(extra or {})
        return cls(prices, defaults=settings.default_prices, fallback=settings.unknown_model_price)

    def find(self, model: str) -> PriceLike | None:
        """Exact name, then without a ``provider/`` prefix, then the longest known ``-``-bounded prefix
        (so ``gpt-4o-mini-2024-07-18`` is priced as ``gpt-4o-mini``, not ``gpt-4o``)."""
        for name in (model, model.rsplit("/", 1)[-1]):
            found = self._prices.get(name)
            if found is not None:
                return found
        name = model.rsplit("/", 1)[-1]
        while "-" in name:
            name = name.rsplit("-", 1)[0]
            found = self._prices.get(name)
            if found is not None:
                return found
        return self._fallback

    def price(self, model: str) -> PriceLike:
        found = self.find(model)
        if found is None:
            raise AlfredError(f"no price is configured for model {model!r}", code="price_not_configured")
        return found

    def cost(self, model: str, prompt_tokens: int = 0, completion_tokens: int = 0, images: int = 0) -> int:
        """What a finished call used, in micro-credits."""
        return cost_micros(self.price(model), prompt_tokens, completion_tokens, images)

    def estimate(self, model: str, prompt_tokens: int, max_output_tokens: int, images: int = 0) -> int:
        """The worst case to reserve before the call: the whole prompt plus every allowed output token."""
        return cost_micros(self.price(model), prompt_tokens, max_output_tokens, images)
