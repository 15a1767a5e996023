from __future__ import annotations

import random

import pytest

from alfred.safety import pii
from alfred.safety.pii import PiiRecognizer
from alfred.safety.text import TextView


def found(text: str) -> list[tuple[str, str]]:
    return [(s.kind, text[s.start : s.end]) for s in PiiRecognizer().find(TextView(text))]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail jane.doe@acme-corp.com now", ("EMAIL", "jane.doe@acme-corp.com")),
        ("<o'brien@firm.ie>", ("EMAIL", "o'brien@firm.ie")),
        ("call (415) 555-0132 today", ("PHONE", "(415) 555-0132")),
        ("call +44 20 7946 0958.", ("PHONE", "+44 20 7946 0958")),
        ("us +1 415 555 0100", ("PHONE", "+1 415 555 0100")),
        ("pay 4539 1488 0343 6467, thanks", ("CARD", "4539 1488 0343 6467")),
        ("amex 3782 822463 10005", ("CARD", "3782 822463 10005")),
        ("IBAN GB82 WEST 1234 5698 7654 32 THANKS", ("IBAN", "GB82 WEST 1234 5698 7654 32")),
        ("iban=NL91ABNA0417164300", ("IBAN", "NL91ABNA0417164300")),
        ("SSN: 536-22-1946", ("SSN", "536-22-1946")),
        ("host 192.168.1.20.", ("IP", "192.168.1.20")),
        ("[2001:db8::8a2e:370:7334]:443", ("IP", "2001:db8::8a2e:370:7334")),
        ("mac a4-5e-60-c2-19-8f", ("MAC", "a4-5e-60-c2-19-8f")),
    ],
)
def test_finds_each_kind_with_exact_bounds(text: str, expected: tuple[str, str]) -> None:
    assert found(text) == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "Order #4539 1488 0343 6468 shipped",  # Luhn fails
        "Reference 9876 5432 1098 7658",  # Luhn passes, no issuer
        "Part 000-12-3456",  # invalid SSN area
        "Employee ID 123-456-7890",  # invalid NANP area code
        "Customer ID 4155550132",  # bare ten digits, no phone context
        "upgrade to version 1.2.3.4",
        "git@github.com:openai/openai-python.git",
        "icon@2x.png and logo@3x.webp",
        "std::vector<int> at 12:30:45",
        "DE89 3704 0044 0532 0130 01",  # IBAN checksum fails
        "postgres://admin:pw@db.acme.io/app",  # credential, not an email
    ],
)
def test_hard_negatives(text: str) -> None:
    assert found(text) == []


def test_bare_digits_become_a_phone_with_context_and_an_ssn_with_its_word() -> None:
    assert found("phone: 2125550123") == [("PHONE", "2125550123")]
    assert found("Employee SSN 287654321") == [("SSN", "287654321")]
    assert found("Employee 287654321") == []


def test_card_followed_by_cvv_and_preceded_by_a_number() -> None:
    assert found("card 4111 1111 1111 1111 123") == [("CARD", "4111 1111 1111 1111")]
    assert found("item 12 4539 1488 0343 6467") == [("CARD", "4539 1488 0343 6467")]


def test_offsets_survive_non_latin_text() -> None:
    text = "Клиент 日本 пишет: zoë@exämple.de? нет, zoe@beispiel.de и 4111 1111 1111 1111"
    assert found(text) == [("EMAIL", "zoe@beispiel.de"), ("CARD", "4111 1111 1111 1111")]


def test_only_requested_kinds_are_searched() -> None:
    text = "a@b-corp.com 4111 1111 1111 1111"
    spans = PiiRecognizer().find(TextView(text), frozenset({"CARD"}))
    assert [s.kind for s in spans] == ["CARD"]


def test_several_findings_come_back_sorted_and_disjoint() -> None:
    text = "x@y.io, 10.0.0.5, (415) 555-0132, x@y.io"
    kinds = [k for k, _ in found(text)]
    assert kinds == ["EMAIL", "IP", "PHONE", "EMAIL"]


def _random_texts(count: int) -> list[str]:
    """Texts dense in numbers, separators and the words that decide phone and SSN findings."""
    rng = random.Random(20261207)
    pieces = ["call ", "ssn ", "tel: ", "id ", "v. ", "+", "(", ")", "-", ".", " ", "/", "x", "é", "_", "١٢"]
    pieces += ["212-555-0147", "078-05-1120", "4111 1111 1111 1111", "192.168.1.20", "+44 20 7946 0958"]
    texts = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(1, 12)):
            if rng.random() < 0.6:
                parts.append("".join(rng.choice("0123456789") for _ in range(rng.randint(1, 22))))
            else:
                parts.append(rng.choice(pieces))
        texts.append("".join(parts))
    texts += ["4111111111111111" * 3, "1" * 40 + " 4111 1111 1111 1111", "a123-45-6789 123-45-6789"]
    return texts


def test_skipping_inside_numbers_finds_what_trying_every_position_finds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # After a rejected match the searches skip the rest of the word it starts in; trying every next
    # position instead (the plain way) must find exactly the same spans.
    recognizer = PiiRecognizer()
    texts = _random_texts(3000)
    skipping = [recognizer.find(TextView(text)) for text in texts]
    monkeypatch.setattr(pii, "_next_clear", lambda text, start, end: start + 1)
    stepping = [recognizer.find(TextView(text)) for text in texts]
    assert skipping == stepping
    assert sum(bool(found) for found in skipping) > 50  # the texts do contain findings


def test_a_long_number_is_one_candidate_not_one_per_digit(monkeypatch: pytest.MonkeyPatch) -> None:
    searches = 0
    original = pii._next_clear

    def counting(text: str, start: int, end: int) -> int:
        nonlocal searches
        searches += 1
        return original(text, start, end)

    monkeypatch.setattr(pii, "_next_clear", counting)
    assert PiiRecognizer().find(TextView("order " + "7" * 5000 + " shipped")) == []
    assert searches <= 3  # one rejected candidate each for cards, SSNs and phones
