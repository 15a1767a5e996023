"""PII recognizers: a pattern finds a candidate, a validator (checksum, number rules, context) keeps it.

Kinds: EMAIL, PHONE, CARD (Luhn + issuer range), IBAN (mod 97), SSN (SSA rules), IP (v4 and v6,
validated by ``ipaddress``), MAC. Candidates come from literal-prefixed searches: ``@`` for emails,
and on the text's shape (``text.py``) runs of ``9`` for every numeric kind, the printed layouts of
cards (``9999 9999 …``) and ``AA99`` for IBANs; the per-kind patterns then run only inside those
small candidate spans.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType

from alfred.safety.checksums import IBAN_LENGTHS, card_network, iban_valid, luhn_valid, nanp_valid, ssn_valid
from alfred.safety.findings import Span, drop_overlaps
from alfred.safety.text import TextView

PII_KINDS = ("EMAIL", "PHONE", "CARD", "IBAN", "SSN", "IP", "MAC")

# Email: anchored on the '@' (a literal, so the regex engine skips ahead fast); the local part is
# walked back by hand.
_EMAIL_DOMAIN = re.compile(
    r"@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,24}))(?![\w-])"
)
_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-'")
# Reserved for documentation (RFC 2606 / 6761) and file names like icon@2x.png: never a person.
_FILE_TLDS = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "tiff", "pdf"})

# On the shape (see text.py): a run of digits and the separators numbers are written with.
_NUMERIC = re.compile(rb"9[9 .()-]*9")  # at least two digits: lone digits are never PII
_IBAN_START = re.compile(rb"AA99")
# The ways cards are printed: one run, 4-4-4-4 (up to 19 digits), 4-6-5 / 4-6-4 (Amex, Diners).
_CARD_SHAPE = re.compile(
    rb"9{13,19}|9999(?P<s>[ -])9999(?P=s)9999(?P=s)9{1,4}(?:(?P=s)9{1,3})?|9999(?P<a>[ -])999999(?P=a)9{4,5}"
)
_NINE = ord("9")
_IBAN_OF_LENGTH: Mapping[int, re.Pattern[str]] = MappingProxyType(
    {
        n: re.compile(rf"[A-Z]{{2}}\d{{2}}(?: ?[A-Z0-9]){{{n - 4}}}(?![A-Za-z0-9])")
        for n in set(IBAN_LENGTHS.values())
    }
)
# Two literal-prefixed searches: an alternation would be tried at every byte.
_MAC_HINTS = (re.compile(rb":[9Aa][9Aa]:"), re.compile(rb"-[9Aa][9Aa]-"))
# On the text, run only inside a numeric candidate.
_SSN = re.compile(r"\d{3}([- ]?)\d{2}\1\d{4}")
_US_PHONE = re.compile(r"(?:1[ .-]?)?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}|\d{10}")
_INTL_PHONE = re.compile(r"\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){1,6}")
_LOCAL_PHONE = re.compile(r"0\d{2,4}[ -]\d{3,4}[ -]?\d{3,4}")
_IPV4 = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
_COLON_HINT = re.compile(r"::|:[0-9A-Fa-f]{1,4}:")
_IPV6 = re.compile(r"[0-9A-Fa-f:][0-9A-Fa-f:.]{1,44}")
_MAC = re.compile(r"[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}")

_PHONE_WORDS = ("phone", "call", "tel", "mobile", "cell", "fax", "whatsapp", "text me", "reach me", "contact")
_SSN_WORDS = ("ssn", "social security", "social-security", "taxpayer", "ss#", "ss #")
_VERSION_WORDS = ("version", "ver.", "v.", "release", "build", "oid")


def _context(lowered: str, start: int, words: tuple[str, ...], window: int = 48) -> bool:
    before = lowered[max(0, start - window) : start]
    return any(word in before for word in words)


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


# \w is exactly ``_is_word``'s test (str.isalnum() or "_") in CPython's re.
_WORD_RUN = re.compile(r"\w*")


def _clear_before(text: str, start: int, also: str) -> bool:
    return start == 0 or not (_is_word(text[start - 1]) or text[start - 1] in also)


def _clear_after(text: str, end: int, also: str) -> bool:
    return end >= len(text) or not (_is_word(text[end]) or text[end] in also or _decimal_follows(text, end))


def _next_clear(text: str, start: int, end: int) -> int:
    """The first position after ``start`` that a word character does not precede: past the run of
    word characters beginning at ``start``, or ``start + 1`` when there is none. A number is one
    such run, so a long one costs one search instead of one per digit."""
    run = _WORD_RUN.match(text, start, end)  # \w* matches everywhere, if only the empty string
    past = run.end() if run is not None else start
    return past + 1 if past > start else start + 1


def _search_all(
    pattern: re.Pattern[str], text: str, start: int, end: int, keep: Callable[[re.Match[str]], bool]
) -> None:
    """Offer every match in text[start:end] to ``keep``; after a rejected match the search resumes at
    the next position that could start a valid one, so it cannot hide one starting inside it. Every
    ``keep`` rejects a match that a word character precedes (``_clear_before``), so the positions
    inside a word are skipped (``_next_clear``)."""
    pos = start
    while pos < end:
        match = pattern.search(text, pos, end)
        if match is None:
            return
        pos = match.end() if keep(match) else _next_clear(text, match.start(), end)


class PiiRecognizer:
    """Finds PII spans in one text; which kinds to look for is chosen per call."""

    def find(self, view: TextView, kinds: frozenset[str] = frozenset(PII_KINDS)) -> list[Span]:
        text = view.text
        spans: list[Span] = []
        if "EMAIL" in kinds and "@" in text:
            self._emails(text, spans)
        shape = view.shape
        if kinds & _NUMERIC_KINDS and shape.count(b"9") >= 4:
            lowered = view.lowered
            for match in _NUMERIC.finditer(shape):
                start, end = match.span()
                digits = shape.count(b"9", start, end)
                if digits < 4:
                    continue
                if "IP" in kinds and digits <= 12 and shape.count(b".", start, end) >= 3:
                    self._ipv4(text, lowered, start, end, spans)
                if digits < 7:
                    continue
                if "CARD" in kinds and digits >= 13:
                    self._cards(text, shape, start, end, spans)
                if "SSN" in kinds and digits >= 9:
                    self._ssns(text, lowered, start, end, spans)
                if "PHONE" in kinds and digits <= 15:  # E.164 caps a number at 15 digits
                    self._phones(text, lowered, start, end, spans)
            if "IBAN" in kinds:
                for match in _IBAN_START.finditer(shape):
                    self._iban(text, match.start(), spans)
        if "IP" in kinds and ":" in text and _COLON_HINT.search(text):
            self._ipv6(text, spans)
        if "MAC" in kinds and any(hint.search(shape) for hint in _MAC_HINTS):
            self._macs(text, spans)
        return drop_overlaps(spans) if len(spans) > 1 else spans

    def _emails(self, text: str, spans: list[Span]) -> None:
        for match in _EMAIL_DOMAIN.finditer(text):
            at = match.start()
            start = at
            while start > 0 and text[start - 1] in _LOCAL_CHARS:
                start -= 1
            while start < at and text[start] in ".'-":
                start += 1  # a local part never starts with a dot or quote
            if start == at or text[at - 1] == ".":
                continue
            tld = match.group(2).lower()
            # Reserved names (example.com, .test) are still addresses as far as a provider can tell and
            # masking them costs nothing; only file names (logo@2x.png) and local TLDs are skipped.
            if tld in _FILE_TLDS or tld in {"localhost", "local", "internal"}:
                continue
            end = match.end()
            # git@github.com:owner/repo.git is an SSH remote, not a mailbox.
            if end + 1 < len(text) and text[end] == ":" and not text[end + 1].isspace():
                continue
            # scheme://user:password@host is a credential (the secrets detector's), not an address.
            token_start = max(text.rfind(" ", 0, start), text.rfind("\n", 0, start)) + 1
            if "://" in text[token_start:start]:
                continue
            spans.append(Span("EMAIL", start, end))

    def _cards(self, text: str, shape: bytes, start: int, end: int, spans: list[Span]) -> None:
        pos = start
        while pos < end:
            match = _CARD_SHAPE.search(shape, pos, end)
            if match is None:
                return
            m_start = match.start()
            if (m_start and shape[m_start - 1] == _NINE) or not _clear_before(text, m_start, ".,-/"):
                pos = _next_clear(text, m_start, end)  # starts inside a longer number
                continue
            found = _card_end(text, m_start, match.end())
            if found is None:
                pos = _next_clear(text, m_start, end)
                continue
            spans.append(Span("CARD", m_start, found))
            pos = found

    def _ssns(self, text: str, lowered: str, start: int, end: int, spans: list[Span]) -> None:
        def keep(match: re.Match[str]) -> bool:
            m_start, m_end = match.span()
            if not _clear_before(text, m_start, "-.+/") or not _clear_after(text, m_end, "-/"):
                return False
            compact = match.group().replace("-", "").replace(" ", "")
            if not ssn_valid(compact[:3], compact[3:5], compact[5:]):
                return False
            # Dashes are the SSN's own shape; spaces or no separator need the word "SSN" nearby.
            if match.group(1) != "-" and not _context(lowered, m_start, _SSN_WORDS):
                return False
            spans.append(Span("SSN", m_start, m_end))
            return True

        _search_all(_SSN, text, start, end, keep)

    def _phones(self, text: str, lowered: str, start: int, end: int, spans: list[Span]) -> None:
        if start and text[start - 1] in "+(":
            start -= 1
        intl = _INTL_PHONE.match(text, start, end) if text[start] == "+" else None
        if intl is not None:
            raw, m_end = intl.group(), intl.end()
            while raw and not raw[-1].isdigit():
                raw, m_end = raw[:-1], m_end - 1
            digits = "".join(c for c in raw if c.isdigit())
            if (
                8 <= len(digits) <= 15
                and digits[0] != "0"
                and _clear_before(text, start, "")
                and _clear_after(text, m_end, "")
                and (digits[0] != "1" or nanp_valid(digits))
            ):
                spans.append(Span("PHONE", start, m_end))
                return

        def keep_us(match: re.Match[str]) -> bool:
            m_start, m_end = match.span()
            if not _clear_before(text, m_start, "-.+/$#") or not _clear_after(text, m_end, "-/"):
                return False
            raw = match.group()
            if raw.isdigit() and not _context(lowered, m_start, _PHONE_WORDS):
                return False  # ten bare digits are an ID as often as a phone number
            if not nanp_valid("".join(c for c in raw if c.isdigit())):
                return False
            spans.append(Span("PHONE", m_start, m_end))
            return True

        def keep_local(match: re.Match[str]) -> bool:
            m_start, m_end = match.span()
            if not _clear_before(text, m_start, "-.+/") or not _clear_after(text, m_end, "-/"):
                return False
            count = sum(c.isdigit() for c in match.group())
            if not (10 <= count <= 11 and _context(lowered, m_start, _PHONE_WORDS)):
                return False
            spans.append(Span("PHONE", m_start, m_end))
            return True

        _search_all(_US_PHONE, text, start, end, keep_us)
        if text[start] == "0" or "0" in text[start:end]:
            _search_all(_LOCAL_PHONE, text, start, end, keep_local)

    def _iban(self, text: str, start: int, spans: list[Span]) -> None:
        if start and text[start - 1].isalnum():
            return
        expected = IBAN_LENGTHS.get(text[start : start + 2])
        if expected is None:
            return
        # Exactly the country's length of characters (single spaces allowed between them), then a
        # boundary, so a trailing upper-case word is not swallowed.
        match = _IBAN_OF_LENGTH[expected].match(text, start)
        if match is not None and iban_valid(match.group().replace(" ", "")):
            spans.append(Span("IBAN", start, match.end()))

    def _ipv4(self, text: str, lowered: str, start: int, end: int, spans: list[Span]) -> None:
        def keep(match: re.Match[str]) -> bool:
            m_start, m_end = match.span()
            if not _clear_before(text, m_start, ".-") or not _clear_after(text, m_end, ""):
                return False
            if m_end + 1 < len(text) and text[m_end] == "." and text[m_end + 1].isdigit():
                return False  # a fifth number: an OID or a long version, not an address
            octets = match.group().split(".")
            if any(int(o) > 255 or (len(o) > 1 and o[0] == "0") for o in octets):
                return False
            if _context(lowered, m_start, _VERSION_WORDS, window=16):
                return False
            spans.append(Span("IP", m_start, m_end))
            return True

        _search_all(_IPV4, text, start, end, keep)

    def _ipv6(self, text: str, spans: list[Span]) -> None:
        for match in _IPV6.finditer(text):
            start, end = match.span()
            candidate = match.group()
            while candidate.endswith("."):
                candidate, end = candidate[:-1], end - 1
            if candidate.count(":") < 2 or sum(c not in ":." for c in candidate) < 3:
                continue
            if not _clear_before(text, start, ":.") or (
                end < len(text) and (_is_word(text[end]) or text[end] == ":")
            ):
                continue
            try:
                ipaddress.IPv6Address(candidate)
            except ValueError:
                continue
            spans.append(Span("IP", start, end))

    def _macs(self, text: str, spans: list[Span]) -> None:
        for match in _MAC.finditer(text):
            start, end = match.span()
            if not _clear_before(text, start, ":-") or (
                end < len(text) and (_is_word(text[end]) or text[end] in ":-")
            ):
                continue
            spans.append(Span("MAC", start, end))


_NUMERIC_KINDS = frozenset({"CARD", "SSN", "PHONE", "IBAN", "IP"})


def _decimal_follows(text: str, end: int) -> bool:
    return end + 1 < len(text) and text[end] in ".," and text[end + 1].isdigit()


def _card_end(text: str, start: int, end: int) -> int | None:
    """Where the card printed at text[start:end] ends: the whole piece, or, when more digits
    follow the card (a CVV, an expiry), the longest prefix cut at a separator that validates."""
    cut = end
    while True:
        digits = text[start:cut].replace(" ", "").replace("-", "")
        if len(digits) < 13:
            return None
        if _clear_after(text, cut, "") and luhn_valid(digits) and card_network(digits) is not None:
            return cut
        cut = max(text.rfind(" ", start, cut), text.rfind("-", start, cut))
        if cut < 0:
            return None
