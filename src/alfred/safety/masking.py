"""Typed placeholders (``<EMAIL_1>``, ``<CARD_1>``…) in the prompt, and the original values back in the answer.

A ``Masker`` lives for one request: the same value always gets the same placeholder, so the model can
still tell that two mentions are one person. A ``Restorer`` swaps placeholders back; its
``StreamRestorer`` does so across streamed chunks, holding back only a tail that could still become
a placeholder (``"<EMA"``) and releasing it as soon as it cannot.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping

from alfred.safety.findings import Span

# What the model sees; anything of this shape that we did not issue is left alone on the way back.
PLACEHOLDER = re.compile(r"<([A-Z][A-Z0-9_]*)_(\d{1,4})>")


class Masker:
    """Issues placeholders for one request and remembers which value each stands for."""

    def __init__(self, reserved: Iterable[str] = ()) -> None:
        # Placeholder-shaped text the caller wrote themselves must not be confused with ours.
        self._reserved = set(reserved)
        self._by_value: dict[tuple[str, str], str] = {}
        self._originals: dict[str, str] = {}
        self._counts: dict[str, int] = {}

    @property
    def originals(self) -> Mapping[str, str]:
        """Placeholder → original value."""
        return self._originals

    def placeholder(self, kind: str, value: str) -> str:
        key = (kind, value)
        existing = self._by_value.get(key)
        if existing is not None:
            return existing
        count = self._counts.get(kind, 0)
        while True:
            count += 1
            candidate = f"<{kind}_{count}>"
            if candidate not in self._reserved:
                break
        self._counts[kind] = count
        self._by_value[key] = candidate
        self._originals[candidate] = value
        return candidate

    def apply(self, text: str, spans: list[Span]) -> str:
        """``text`` with each span (sorted, non-overlapping) replaced by its placeholder."""
        pieces: list[str] = []
        last = 0
        for span in spans:
            pieces.append(text[last : span.start])
            pieces.append(self.placeholder(span.kind, text[span.start : span.end]))
            last = span.end
        pieces.append(text[last:])
        return "".join(pieces)


def reserved_placeholders(texts: Iterable[str]) -> set[str]:
    """Placeholder-shaped strings already present in the caller's own text."""
    found: set[str] = set()
    for text in texts:
        if "<" in text:
            found.update(m.group() for m in PLACEHOLDER.finditer(text))
    return found


class Restorer:
    """Puts original values back in place of the placeholders one request issued."""

    def __init__(self, originals: Mapping[str, str]) -> None:
        self._originals = dict(originals)
        self._json = {k: json.dumps(v, ensure_ascii=False)[1:-1] for k, v in self._originals.items()}
        # Every proper prefix of every placeholder: what a stream may have to hold back.
        self._prefixes = {p[:i] for p in self._originals for i in range(1, len(p))}
        self._longest = max((len(p) for p in self._originals), default=0)

    def __bool__(self) -> bool:
        return bool(self._originals)

    def restore(self, text: str, *, json_string: bool = False) -> str:
        """``text`` with our placeholders replaced; ``json_string`` escapes values for a JSON document."""
        if "<" not in text:
            return text
        table = self._json if json_string else self._originals
        return PLACEHOLDER.sub(lambda m: table.get(m.group(), m.group()), text)

    def stream(self, *, json_string: bool = False) -> StreamRestorer:
        return StreamRestorer(self, json_string)

    def held_from(self, text: str) -> int:
        """Index where a tail that may still grow into a placeholder starts (``len(text)`` if none)."""
        window = text.rfind("<", max(0, len(text) - self._longest))
        if window >= 0 and text[window:] in self._prefixes:
            return window
        return len(text)


class StreamRestorer:
    """Restores one channel of a stream (a choice's content, or one tool call's arguments)."""

    def __init__(self, restorer: Restorer, json_string: bool) -> None:
        self._restorer = restorer
        self._json = json_string
        self._held = ""

    def feed(self, piece: str) -> str:
        text = self._held + piece if self._held else piece
        cut = self._restorer.held_from(text)
        self._held = text[cut:]
        return self._restorer.restore(text[:cut], json_string=self._json)

    def flush(self) -> str:
        """Whatever is held back, at the end of the stream: it never became a placeholder."""
        held, self._held = self._held, ""
        return held

    @property
    def holding(self) -> bool:
        return bool(self._held)
