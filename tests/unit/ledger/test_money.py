from __future__ import annotations

from decimal import Decimal

import pytest

from alfred.ledger.money import (
    MICROS_PER_USD,
    credits_to_micros,
    format_credits,
    micros_to_credits,
    micros_to_usd,
    usd_to_micros,
)


def test_one_usd_is_one_hundred_credits() -> None:
    assert usd_to_micros("1") == MICROS_PER_USD == credits_to_micros(100)
    assert micros_to_usd(credits_to_micros("2.5")) == Decimal("0.025")


def test_conversions_are_exact() -> None:
    assert credits_to_micros("0.000001") == 1
    assert credits_to_micros(Decimal("12.345678")) == 12_345_678
    assert micros_to_credits(12_345_678) == Decimal("12.345678")
    with pytest.raises(ValueError):
        credits_to_micros("0.0000001")  # finer than a micro-credit


def test_usd_rounds_up_to_the_micro_credit() -> None:
    assert usd_to_micros("0.000000001") == 1  # a tenth of a micro-credit is charged as one
    assert usd_to_micros("0.00000002") == 2
    assert usd_to_micros("0") == 0


@pytest.mark.parametrize("bad", [0.1, 1.0, True])
def test_floats_and_bools_are_refused(bad: object) -> None:
    with pytest.raises(TypeError):
        credits_to_micros(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        usd_to_micros(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["abc", "NaN", "Infinity"])
def test_non_numbers_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        credits_to_micros(bad)


def test_format() -> None:
    assert format_credits(12_500_000) == "12.5"
    assert format_credits(3_000_000) == "3"
    assert format_credits(1) == "0.000001"
    assert format_credits(-2_000_000) == "-2"
