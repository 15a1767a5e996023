"""The base of every settings model, kept apart from ``config.py`` so section modules
(``state/settings.py``, ``routing/settings.py``, …) can use it while ``config.py`` imports them."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, field_validator


class Strict(BaseModel):
    """A settings section: unknown keys are errors (typos never pass silently), values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Price(Strict):
    """USD per 1M tokens (and per image); Decimal so money never touches floats."""

    input_per_mtok: Decimal = Decimal(0)
    output_per_mtok: Decimal = Decimal(0)
    per_image: Decimal = Decimal(0)

    @field_validator("input_per_mtok", "output_per_mtok", "per_image")
    @classmethod
    def _non_negative(cls, value: Decimal) -> Decimal:
        if value < 0:
            raise ValueError("prices cannot be negative")
        return value
