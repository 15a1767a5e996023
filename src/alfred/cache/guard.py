"""A guard beyond cosine: two questions whose vectors are close may still ask different things.

Sentence embeddings place "how do I enable X" and "how do I disable X" almost on top of each other
(cosine 0.96 with MiniLM), and likewise "10 miles to km" and "10 km to miles". Before a semantic hit
is served, the guard compares what embeddings blur: negation, opposite words (enable/disable,
ascending/descending, …), numbers, units, programming languages, names and identifiers, and the
order of those anchors where order carries meaning ("from A to B", "A beat B", "A than B").

It errs on the side of a miss: a rejected paraphrase costs one upstream call, a wrong answer costs
trust. Each question's ``Signature`` is computed once (when it is stored or looked up).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from alfred.cache.lexicon import (
    CAPITALIZED_LANGUAGES,
    DIRECTIONAL_LINKS,
    LANGUAGES,
    NAMES,
    NEGATIONS,
    NOT_NAMES,
    NUMBER_SCALES,
    NUMBER_WORDS,
    OPPOSITES,
    SHORT_UNITS,
    SYMMETRIC_LINKS,
    UNITS,
)

# One pass over the text: degree signs and currency symbols, numbers, then words that may carry
# inner ".+#'/-" (node.js, c++, c#, don't, km/h, objective-c).
_TOKEN = re.compile(
    r"°\s?[cCfF]\b|[$€£¥%℃℉²&/,]|\d+(?:[.,]\d+)*|[A-Za-z][A-Za-z0-9]*(?:[.'+#/-]+[A-Za-z0-9]+)*[+#]*"
)
_THOUSANDS = re.compile(r"^\d{1,3}(,\d{3})+$")
_SENTENCE_END = frozenset(".?!:;\n")
_MAX_PHRASE = 3


@dataclass(frozen=True, slots=True)
class _Token:
    text: str  # as written
    lower: str
    sentence_start: bool


@dataclass(frozen=True, slots=True)
class Signature:
    """What the guard compares between two questions; see the module docstring."""

    negated: bool
    marks: dict[str, frozenset[int]]  # opposite group → signs used
    numbers: tuple[str, ...]  # sorted, normalized
    units: frozenset[str]
    languages: frozenset[str]
    names: frozenset[str]
    words: frozenset[str]  # every lower-case word form, for cross-checks
    keys: tuple[str, ...]  # each token's canonical key, in text order (for anchor order)
    anchors: frozenset[str]  # keys that must keep their relative order


def _tokens(text: str) -> list[_Token]:
    text = text.replace("\u2019", "'").replace("\u2018", "'")  # curly apostrophes
    out: list[_Token] = []
    for match in _TOKEN.finditer(text):
        before = text[: match.start()].rstrip(" \t\"'(*`")
        start = not before or before[-1] in _SENTENCE_END
        raw = match.group(0)
        if raw.lower().endswith("'s"):
            raw = raw[:-2]
        out.append(_Token(raw, raw.lower(), start))
    return out


def _lemmas(word: str) -> list[str]:
    forms = [word]
    if word.endswith("ies"):
        forms.append(word[:-3] + "y")
    if word.endswith("es"):
        forms.append(word[:-2])
    if word.endswith("s"):
        forms.append(word[:-1])
    if word.endswith("ing"):
        forms += [word[:-3], word[:-3] + "e", word[:-4]]  # starting, making, stopping
    if word.endswith("ed"):
        forms += [word[:-2], word[:-1], word[:-3]]  # started, enabled, stopped
    return forms


def _number_words(lowers: list[str], i: int) -> tuple[int, int] | None:
    """Parse "twenty five", "two hundred", "a dozen" at ``i``: (value, tokens used) or None."""
    total, current, used = 0, 0, 0
    while i + used < len(lowers):
        word = lowers[i + used]
        if word in NUMBER_WORDS:
            current += NUMBER_WORDS[word]
        elif word in NUMBER_SCALES and (current or total):
            current = max(current, 1) * NUMBER_SCALES[word]
            if NUMBER_SCALES[word] >= 1000:
                total, current = total + current, 0
        else:
            break
        used += 1
    return (total + current, used) if used else None


def signature(text: str) -> Signature:
    """Compute a question's signature (pure; a few microseconds per sentence)."""
    tokens = _tokens(text)
    lowers = [t.lower for t in tokens]
    negations = 0
    marks: dict[str, set[int]] = {}
    numbers: list[str] = []
    units: set[str] = set()
    languages: set[str] = set()
    names: set[str] = set()
    words: set[str] = set()
    keys: list[str] = []
    anchors: set[str] = set()
    i = 0
    previous_number = False
    while i < len(tokens):
        token = tokens[i]
        lower = token.lower
        words.add(lower)
        # Phrases first (longest wins): "turn off", "square feet", "miles per hour".
        matched = False
        for size in range(_MAX_PHRASE, 1, -1):
            phrase = " ".join(lowers[i : i + size])
            if len(lowers) - i < size:
                continue
            if phrase in UNITS:
                key = "u:" + UNITS[phrase]
                units.add(UNITS[phrase])
            elif phrase in OPPOSITES:
                for group, sign in OPPOSITES[phrase]:
                    marks.setdefault(group, set()).add(sign)
                key = "w:" + phrase
            else:
                continue
            keys.append(key)
            if key.startswith("u:"):
                anchors.add(key)
            words.update(lowers[i : i + size])
            i += size
            matched = True
            previous_number = False
            break
        if matched:
            continue
        key = "w:" + lower
        is_number = False
        if lower[0].isdigit():
            value = lower.replace(",", "") if _THOUSANDS.match(lower) else lower
            numbers.append(value)
            key, is_number = "n:" + value, True
        elif (parsed := _number_words(lowers, i)) is not None and (
            lowers[i] != "one" or parsed[1] > 1 or (i + 1 < len(lowers) and lowers[i + 1] in UNITS)
        ):
            # "one" alone is usually a pronoun ("which one"); count it only as "one hundred", "one mile".
            value, used = str(parsed[0]), parsed[1]
            numbers.append(value)
            keys.append("n:" + value)
            anchors.add("n:" + value)
            words.update(lowers[i : i + used])
            i += used
            previous_number = True
            continue
        elif token.text in CAPITALIZED_LANGUAGES and not (token.sentence_start and token.text == "Go"):
            key = "l:" + CAPITALIZED_LANGUAGES[token.text]
            languages.add(CAPITALIZED_LANGUAGES[token.text])
        elif lower in LANGUAGES:
            key = "l:" + LANGUAGES[lower]
            languages.add(LANGUAGES[lower])
        elif lower in UNITS or (previous_number and lower in SHORT_UNITS):
            canon = UNITS.get(lower) or SHORT_UNITS[lower]
            key = "u:" + canon
            units.add(canon)
        elif lower in NEGATIONS or lower.endswith("n't"):
            negations += 1
        else:
            parts = re.split(r"[-/]", lower) if "-" in lower or "/" in lower else [lower]
            words.update(parts)
            for part in parts:  # "best-selling", "read/write"
                for form in _lemmas(part.replace("'", "")):
                    if form in OPPOSITES:
                        for group, sign in OPPOSITES[form]:
                            marks.setdefault(group, set()).add(sign)
                        break
            if _is_name(token):
                names.add(lower)
                anchors.add(key)
        if key[0] in "nul" and key[1] == ":":
            anchors.add(key)
        keys.append(key)
        previous_number = is_number
        i += 1
    return Signature(
        negated=negations % 2 == 1,
        marks={group: frozenset(signs) for group, signs in marks.items()},
        numbers=tuple(sorted(numbers)),
        units=frozenset(units),
        languages=frozenset(languages),
        names=frozenset(names),
        words=frozenset(words),
        keys=tuple(keys),
        anchors=frozenset(anchors),
    )


def _is_name(token: _Token) -> bool:
    text, lower = token.text, token.lower
    if lower in NAMES:
        return True
    if not text[0].isalpha() or lower in NOT_NAMES:
        return False
    inner_caps = any(c.isupper() for c in text[1:])  # NumPy, iOS, useEffect, GPT
    identifier = any(c in text for c in "._#+") or (any(c.isdigit() for c in text) and text[0].isalpha())
    if inner_caps or identifier:
        return True
    return text[0].isupper() and not token.sentence_start


def _covered(mine: frozenset[str], other: Signature, other_set: frozenset[str]) -> bool:
    return all(item in other_set or item in other.words for item in mine)


def _order(sig: Signature, anchors: frozenset[str]) -> tuple[list[str], tuple[str, ...]]:
    """Anchors in first-seen order, and the words between the first anchor and the last."""
    positions = [i for i, key in enumerate(sig.keys) if key in anchors]
    if not positions:
        return [], ()
    order = list(dict.fromkeys(sig.keys[i] for i in positions))
    gap = tuple(k[2:] for k in sig.keys[positions[0] : positions[-1] + 1] if k not in anchors)
    return order, gap


def _order_matters(
    order_q: list[str], gap_q: tuple[str, ...], order_c: list[str], gap_c: tuple[str, ...]
) -> bool:
    """Whether two questions naming the same anchors in different orders ask different things.

    Numbers and units always keep their order ("70 kg in pounds" is not "70 pounds in kg"); names
    do when a directional word links them ("from A to B", "A beat B", "A than B") and not when only
    "and"/"or"/"vs" does, or nothing that orders them at all ("Germany's GDP", "GDP of Germany").
    """
    measured_q = [k for k in order_q if k[0] in "nu" and k in order_c]
    measured_c = [k for k in order_c if k[0] in "nu" and k in order_q]
    if measured_q != measured_c:
        return True
    if all(w in SYMMETRIC_LINKS for w in gap_q) and all(w in SYMMETRIC_LINKS for w in gap_c):
        return False
    return any(w in DIRECTIONAL_LINKS for w in gap_q + gap_c)


def mismatch(query: Signature, cached: Signature) -> str | None:
    """Why ``cached`` must not answer ``query`` (a short reason), or None when nothing contradicts."""
    if query.negated != cached.negated:
        return "negation"
    for group in query.marks.keys() & cached.marks.keys():
        if query.marks[group] != cached.marks[group]:
            return f"opposite:{group}"
    if Counter(query.numbers) != Counter(cached.numbers):
        return "number"
    if query.units != cached.units:
        return "unit"
    if not (
        _covered(query.languages, cached, cached.languages)
        and _covered(cached.languages, query, query.languages)
    ):
        return "code-language"
    if not (_covered(query.names, cached, cached.names) and _covered(cached.names, query, query.names)):
        return "name"
    shared = query.anchors | cached.anchors
    if len(shared) > 1:
        order_q, gap_q = _order(query, shared)
        order_c, gap_c = _order(cached, shared)
        if order_q != order_c and _order_matters(order_q, gap_q, order_c, gap_c):
            return "order"
    return None


class QuestionGuard:
    """Decides whether a cached question may answer a new one, beyond their cosine similarity."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def signature(self, text: str) -> Signature:
        return signature(text)

    def mismatch(self, query: Signature, cached: Signature) -> str | None:
        return mismatch(query, cached) if self.enabled else None
