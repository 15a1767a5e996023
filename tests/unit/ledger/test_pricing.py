from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from alfred.config import Price
from alfred.errors import AlfredError
from alfred.ledger.pricing import DEFAULT_PRICES, PriceTable, cost_micros
from alfred.ledger.settings import LedgerSettings, ModelPrice


def test_cost_is_exact_and_rounded_up() -> None:
    price = ModelPrice(input_per_mtok=Decimal("0.15"), output_per_mtok=Decimal("0.60"))
    # 1000 x 0.15 / 1M USD = 0.00015 USD = 15_000 micro-credits; 500 x 0.60 / 1M = 0.0003 USD = 30_000
    assert cost_micros(price, 1_000, 500) == 45_000
    # One token at $0.15/M is 15 micro-credits exactly; at $0.075/M it is 7.5, charged as 8.
    assert cost_micros(price, 1, 0) == 15
    assert cost_micros(ModelPrice(input_per_mtok=Decimal("0.075")), 1, 0) == 8
    assert cost_micros(ModelPrice(per_image=Decimal("0.0023")), images=3) == 690_000
    with pytest.raises(ValueError):
        cost_micros(price, -1, 0)


def test_lookup_prefers_config_then_longest_known_prefix() -> None:
    table = PriceTable({"gpt-4o": ModelPrice(input_per_mtok=Decimal(1))})
    assert table.price("gpt-4o").input_per_mtok == Decimal(1)  # config overrides the list price
    assert table.price("gpt-4o-mini-2024-07-18") is DEFAULT_PRICES["gpt-4o-mini"]
    assert table.price("openai/gpt-4o-mini") is DEFAULT_PRICES["gpt-4o-mini"]
    assert table.price("claude-3-5-sonnet-20241022") is DEFAULT_PRICES["claude-3-5-sonnet"]
    with pytest.raises(AlfredError) as err:
        table.price("mystery-model")
    assert err.value.code == "price_not_configured"


def test_estimate_is_prompt_plus_every_allowed_output_token() -> None:
    table = PriceTable()
    assert table.estimate("gpt-4o", 1_000, 4_000) == table.cost("gpt-4o", 1_000, 4_000)
    assert table.estimate("gpt-4o", 1_000, 4_000) == 1_000 * 250 + 4_000 * 1_000


def test_gateway_config_prices_are_accepted() -> None:
    settings = LedgerSettings(default_prices=False, unknown_model_price=ModelPrice(input_per_mtok=Decimal(2)))
    table = PriceTable.from_settings(settings, {"mock": Price(input_per_mtok=Decimal("0.5"))})
    assert table.cost("mock", 2, 0) == 100
    assert table.cost("gpt-4o", 1, 0) == 200  # no list prices: the fallback applies


def test_settings_forbid_unknown_keys_and_bad_prices() -> None:
    with pytest.raises(ValidationError):
        LedgerSettings(databse_url="x")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        ModelPrice(input_per_mtok=Decimal(-1))
    assert ModelPrice(input_per_mtok=0.15).input_per_mtok == Decimal("0.15")  # type: ignore[arg-type]
