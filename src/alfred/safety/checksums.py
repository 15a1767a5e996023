"""Validation rules that turn a digit pattern into a real identifier: Luhn, IBAN mod-97, SSN, NANP.

Patterns alone flag order numbers, dates and IDs; these checks are what keep PII precision high.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# IBAN length per country (SWIFT IBAN registry). RU is in the registry since 2024.
IBAN_LENGTHS: Mapping[str, int] = MappingProxyType({
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
})  # fmt: skip


_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # 2·d with its digits summed, for d = 0…9


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check every payment card number carries."""
    total = sum(map(int, digits[-1::-2])) + sum(_DOUBLED[int(c)] for c in digits[-2::-2])
    return total % 10 == 0


def card_network(digits: str) -> str | None:
    """The card network an issuer prefix (IIN) and length belong to, or None for no known network.

    Luhn alone passes one random number in ten; requiring a real IIN range removes most of the rest.
    """
    length = len(digits)
    two = int(digits[:2])
    four = int(digits[:4])
    six = int(digits[:6])
    if digits[0] == "4" and length in (13, 16, 19):
        return "visa"
    if (51 <= two <= 55 or 2221 <= four <= 2720) and length == 16:
        return "mastercard"
    if two in (34, 37) and length == 15:
        return "amex"
    if (four == 6011 or two == 65 or 644 <= int(digits[:3]) <= 649 or 622126 <= six <= 622925) and (
        16 <= length <= 19
    ):
        return "discover"
    if 3528 <= four <= 3589 and 16 <= length <= 19:
        return "jcb"
    if (300 <= int(digits[:3]) <= 305 or two in (36, 38, 39) or four == 3095) and 14 <= length <= 19:
        return "diners"
    if two == 62 and 16 <= length <= 19:
        return "unionpay"
    if (two in (50, 56, 57, 58) or four in (6304, 6759, 6761, 6762, 6763)) and 12 <= length <= 19:
        return "maestro"
    if 2200 <= four <= 2204 and 16 <= length <= 19:
        return "mir"
    return None


def iban_valid(compact: str) -> bool:
    """An IBAN (spaces removed, upper case): known country, its exact length, and mod 97 == 1."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    # Letters become two digits (A=10 … Z=35); int() over the whole string is exact and fast.
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """SSA rules: area not 000, 666 or 900-999; group not 00; serial not 0000; no famous fakes."""
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    # Numbers the SSA voided after they were printed on sample cards and in ads.
    return f"{area}{group}{serial}" not in ("078051120", "219099999", "123456789")


def nanp_valid(digits: str) -> bool:
    """A North American number: 10 digits (or 11 with a leading 1), area and exchange start 2-9.

    Also rejects N11 service codes as area codes and all-same-digit fillers like 000-000-0000.
    """
    if len(digits) == 11:
        if digits[0] != "1":
            return False
        digits = digits[1:]
    if len(digits) != 10:
        return False
    area, exchange = digits[:3], digits[3:6]
    if area[0] in "01" or exchange[0] in "01" or area[1:] == "11":
        return False
    return len(set(digits)) > 2
