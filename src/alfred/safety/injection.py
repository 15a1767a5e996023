"""Prompt-injection scoring: weighted patterns over lower-cased text, combined by noisy-OR into [0, 1].

Each rule runs only when one of its key words is in the text (one split into a word set answers that
for all rules), and then only in a window around each occurrence, so ordinary prompts cost little.
Patterns name the *object* of the verb ("ignore the previous instructions", not "ignore the previous
error"), which is what keeps everyday requests below the threshold (rules: ``injection_rules.py``). Obfuscation is undone before scoring: zero-width characters are removed, look-alike
letters from other scripts are folded to Latin, and base64 blobs that decode to text are scored too;
the obfuscation itself adds weight.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from dataclasses import dataclass
from types import MappingProxyType

from alfred.safety.findings import Signal, combine
from alfred.safety.injection_rules import RULES, Rule
from alfred.safety.text import TextView

_WORD_BREAKS = MappingProxyType(
    str.maketrans({c: " " for c in "!\"#$%&'()*+,./:;<=>?@[\\]^`{|}~\u2018\u2019\u201c\u201d\u00ab\u00bb"})
)

_ZERO_WIDTH = MappingProxyType(
    dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad\u180e"))
)
# Inside a word, not between emoji (ZWJ sequences) or as a soft hyphen: that is how they hide words.
_ZERO_WIDTH_IN_WORD = re.compile(r"[A-Za-z][\u200b\u200c\u200d\u2060\ufeff\u180e]+[A-Za-z]")
# Letters from Cyrillic and Greek that render like Latin ones, folded before scoring.
_HOMOGLYPHS = MappingProxyType(
    str.maketrans(
        "аеорсухіјѕԁһӏԛԝасеіорхуАВЕКМНОРСТХУІЈЅαβεικνορτυχΑΒΕΗΙΚΜΝΟΡΤΥΧ",
        "aeopcyxijsdhlqwaceiopxyABEKMHOPCTXYIJSabeikvoptuxABEHIKMNOPTYX",
    )
)
_LATIN = re.compile(r"[a-z]")
_NON_LATIN_LETTER = re.compile(r"[\u0370-\u03ff\u0400-\u04ff]")


# Each rule with its key words (checked against the text's word set) and its punctuation keys
# (checked as substrings).
_PLAN = tuple(
    (
        rule,
        frozenset(k for k in rule.keys.split() if k[0].isalnum()),
        tuple(k for k in rule.keys.split() if not k[0].isalnum()),
    )
    for rule in RULES
)
_KEYS = frozenset().union(*(words for _, words, _ in _PLAN))


@dataclass(frozen=True, slots=True)
class InjectionResult:
    """The score in [0, 1] and the signals behind it."""

    score: float
    signals: tuple[Signal, ...]


class InjectionScorer:
    """Scores one text (a user message or a tool result) for prompt-injection patterns."""

    def score(self, view: TextView) -> InjectionResult:
        signals: list[Signal] = []
        matched: set[str] = set()
        text = view.text
        lowered = view.lowered
        if not text.isascii():
            normalized, tricks = _deobfuscate(text)
            signals.extend(tricks)
            lowered = normalized.lower()
        self._match(lowered, signals, matched)
        if len(text) >= 24:
            self._encoded(view, signals, matched)
        if not signals:
            return InjectionResult(0.0, ())
        return InjectionResult(combine([s.weight for s in signals]), tuple(signals))

    def _match(self, lowered: str, signals: list[Signal], matched: set[str]) -> None:
        # One split into a set of words answers "is any key word here?" for every rule at once,
        # far cheaper than a substring search per key.
        words = _KEYS.intersection(lowered.translate(_WORD_BREAKS).split())
        positions: dict[str, list[int]] = {}
        for rule, rule_words, symbols in _PLAN:
            if rule.name in matched or (rule_words.isdisjoint(words) and not symbols):
                continue
            leads: list[int] = []
            for key in (*rule_words.intersection(words), *symbols):
                found = positions.get(key)
                if found is None:
                    found = positions[key] = _occurrences(lowered, key)
                leads.extend(found)
            if leads and _search_windows(rule, lowered, leads):
                matched.add(rule.name)
                signals.append(Signal(rule.category, rule.name, rule.weight))

    def _encoded(self, view: TextView, signals: list[Signal], matched: set[str]) -> None:
        """Base64 blobs that decode to readable text are scored as if written in clear, plus a penalty."""
        for start, end in view.runs():
            token = view.text[start:end].strip("=")
            # Base64 of prose mixes cases and never holds "_"; identifiers and hex digests skip decoding.
            if "_" in token or token.islower() or token.isupper() or len(token) < 24:
                continue
            decoded = _decode_text(token)
            if decoded is None:
                continue
            before = len(signals)
            self._match(decoded.lower(), signals, matched)
            if len(signals) > before and "base64_payload" not in matched:
                matched.add("base64_payload")
                signals.append(Signal("encoding", "base64_payload", 0.3))


def _occurrences(lowered: str, lead: str) -> list[int]:
    found: list[int] = []
    pos = lowered.find(lead)
    while pos >= 0:
        found.append(pos)
        pos = lowered.find(lead, pos + len(lead))
    return found


def _search_windows(rule: Rule, lowered: str, leads: list[int]) -> bool:
    """Search the merged windows around the leads: each character is searched at most once."""
    before, after = rule.window
    leads.sort()
    end_of_text = len(lowered)
    lo, hi = max(0, leads[0] - before), min(end_of_text, leads[0] + after)
    for lead in leads[1:]:
        if lead - before <= hi:
            hi = min(end_of_text, lead + after)
            continue
        if _search(rule, lowered, lo, hi):
            return True
        lo, hi = lead - before, min(end_of_text, lead + after)
    return _search(rule, lowered, lo, hi)


def _search(rule: Rule, lowered: str, lo: int, hi: int) -> bool:
    # Patterns carry no leading \b (it would disable the engine's first-character prefilter), so
    # the start boundary, or the start of a line, is checked here.
    pos = lo
    while True:
        match = rule.pattern.search(lowered, pos, hi)
        if match is None:
            return False
        start = match.start()
        if rule.line_start:
            line = lowered.rfind("\n", 0, start) + 1
            if not lowered[line:start].strip():
                return True
        elif start == 0 or not lowered[start - 1].isalnum():
            return True
        pos = start + 1


def _deobfuscate(text: str) -> tuple[str, list[Signal]]:
    signals: list[Signal] = []
    cleaned = text.translate(_ZERO_WIDTH)
    if len(cleaned) != len(text) and _ZERO_WIDTH_IN_WORD.search(text):
        signals.append(Signal("encoding", "zero_width_characters", 0.35))
    folded = unicodedata.normalize("NFKC", cleaned)
    if _NON_LATIN_LETTER.search(folded):
        # Only words that mix scripts are tricks; a whole Russian or Greek sentence is not.
        mixed = [w for w in folded.split() if _NON_LATIN_LETTER.search(w) and _LATIN.search(w.lower())]
        if mixed:
            signals.append(Signal("encoding", "mixed_script_words", 0.3))
            folded = folded.translate(_HOMOGLYPHS)
    return folded, signals


def _decode_text(token: str) -> str | None:
    stripped = token.strip("-_")
    if len(stripped) < 24 or len(stripped) % 4 == 1:
        return None
    try:
        raw = base64.b64decode(stripped + "=" * (-len(stripped) % 4))
    except (ValueError, binascii.Error):
        return None
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = sum(c.isprintable() or c in "\n\t\r" for c in decoded)
    return decoded if printable / max(1, len(decoded)) > 0.95 and " " in decoded else None
