"""Credits and their storage unit. 1 USD = 100 credits; the database holds integer micro-credits.

Money never passes through a float: amounts are ``int`` micro-credits inside, ``Decimal`` at the edges,
and a float handed to any conversion here is a ``TypeError`` rather than a silent rounding.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal, InvalidOperation

CREDITS_PER_USD = 100
MICROS_PER_CREDIT = 1_000_000
MICROS_PER_USD = CREDITS_PER_USD * MICROS_PER_CREDIT

Amount = Decimal | int | str


def _decimal(value: Amount) -> Decimal:
    if isinstance(value, bool | float):
        raise TypeError(f"money must be a Decimal, int or str, never {type(value).__name__}")
    try:
        result = value if isinstance(value, Decimal) else Decimal(value)
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc
    if not result.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    return result


def credits_to_micros(credits: Amount) -> int:
    """Exact conversion; an amount finer than one micro-credit is an error, not a rounding."""
    micros = _decimal(credits) * MICROS_PER_CREDIT
    if micros != micros.to_integral_value():
        raise ValueError(f"{credits} credits is finer than one micro-credit")
    return int(micros)


def micros_to_credits(micros: int) -> Decimal:
    return Decimal(micros) / MICROS_PER_CREDIT


def usd_to_micros(usd: Amount) -> int:
    """USD to micro-credits, rounded up: a fraction of a micro-credit is charged as a whole one."""
    return int((_decimal(usd) * MICROS_PER_USD).to_integral_value(rounding=ROUND_CEILING))


def micros_to_usd(micros: int) -> Decimal:
    return Decimal(micros) / MICROS_PER_USD


def format_credits(micros: int) -> str:
    """``12.5`` for 12_500_000 micro-credits: trailing zeros dropped, never an exponent."""
    text = f"{micros_to_credits(micros):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
