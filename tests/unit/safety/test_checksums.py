from __future__ import annotations

import pytest

from alfred.safety.checksums import card_network, iban_valid, luhn_valid, nanp_valid, ssn_valid


@pytest.mark.parametrize(
    ("number", "network"),
    [
        ("4539148803436467", "visa"),
        ("5555555555554444", "mastercard"),
        ("2223003122003222", "mastercard"),
        ("378282246310005", "amex"),
        ("6011111111111117", "discover"),
        ("3530111333300000", "jcb"),
        ("30569309025904", "diners"),
        ("6200000000000005", "unionpay"),
    ],
)
def test_known_test_cards_pass_luhn_and_map_to_their_network(number: str, network: str) -> None:
    assert luhn_valid(number)
    assert card_network(number) == network


def test_luhn_rejects_a_single_changed_digit() -> None:
    assert not luhn_valid("4539148803436468")
    # Luhn-valid numbers outside every issuer range are still not cards.
    assert luhn_valid("9876543210987658") and card_network("9876543210987658") is None
    assert luhn_valid("1234567812345670") and card_network("1234567812345670") is None


@pytest.mark.parametrize(
    "iban",
    ["DE89370400440532013000", "GB82WEST12345698765432", "FR1420041010050500013M02606", "NO9386011117947"],
)
def test_valid_ibans(iban: str) -> None:
    assert iban_valid(iban)


@pytest.mark.parametrize(
    "iban",
    [
        "DE89370400440532013001",  # check digits do not match
        "GB00WEST12345698765432",
        "DE8937040044053201300",  # one character short for Germany
        "XX89370400440532013000",  # no such country
    ],
)
def test_invalid_ibans(iban: str) -> None:
    assert not iban_valid(iban)


def test_ssn_rules() -> None:
    assert ssn_valid("536", "22", "1946")
    for area, group, serial in [
        ("000", "12", "3456"),
        ("666", "12", "3456"),
        ("912", "34", "5678"),
        ("536", "00", "1946"),
        ("536", "22", "0000"),
        ("078", "05", "1120"),
    ]:
        assert not ssn_valid(area, group, serial)


def test_nanp_rules() -> None:
    assert nanp_valid("4155550132")
    assert nanp_valid("14155550132")
    assert not nanp_valid("1234567890")  # area code cannot start with 1
    assert not nanp_valid("4151550132")  # exchange cannot start with 1
    assert not nanp_valid("9115550132")  # N11 is a service code
    assert not nanp_valid("24155550132")  # eleven digits must start with 1
    assert not nanp_valid("2222222222")
