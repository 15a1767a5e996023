"""One text as the detectors see it: lower-cased once, and reduced to a byte "shape" for fast searches.

Python's regex engine scans for a literal prefix at memchr speed but tries a character-class prefix
(``\\d``, ``[A-Z]``) at every position, about ten times slower. So each text is also translated, once,
into a shape of the same length where every digit is ``9``, every upper-case letter ``A``, every
lower-case letter ``a`` (other ASCII kept, anything else ``~``). "Four digits" becomes the literal
search ``9999``, "two capitals then two digits" (an IBAN's start) becomes ``AA99``. Offsets in the
shape are offsets in the text: non-Latin-1 characters are encoded as one ``?`` byte each first.
"""

from __future__ import annotations

import math
from collections import Counter


def _shape_table() -> bytes:
    table = bytearray(range(256))
    for byte in range(256):
        if 48 <= byte <= 57:
            table[byte] = ord("9")
        elif 65 <= byte <= 90:
            table[byte] = ord("A")
        elif 97 <= byte <= 122:
            table[byte] = ord("a")
        elif byte >= 128 or byte == ord("?"):
            table[byte] = ord("~")
    return bytes(table)


_SHAPE = _shape_table()
# Token characters of keys and base64: letters, digits, + / = _ -  → 1, everything else → 0.
_TOKEN = bytes(
    1 if (48 <= b <= 57 or 65 <= b <= 90 or 97 <= b <= 122 or b in b"+/=_-") else 0 for b in range(256)
)
MIN_RUN = 20
_RUN_NEEDLE = b"\x01" * MIN_RUN


class TextView:
    """A text with its derived forms computed on first use and shared by every detector."""

    __slots__ = ("_latin", "_lowered", "_runs", "_shape", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._lowered: str | None = None
        self._latin: bytes | None = None
        self._shape: bytes | None = None
        self._runs: list[tuple[int, int]] | None = None

    @property
    def lowered(self) -> str:
        if self._lowered is None:
            lowered = self.text.lower()
            # A few characters change length when lower-cased (İ → i̇); keep offsets aligned.
            self._lowered = lowered if len(lowered) == len(self.text) else self.text
        return self._lowered

    @property
    def latin(self) -> bytes:
        """The text as one byte per character (non-Latin-1 characters become ``?``)."""
        if self._latin is None:
            self._latin = self.text.encode("latin-1", "replace")
        return self._latin

    @property
    def shape(self) -> bytes:
        if self._shape is None:
            self._shape = self.latin.translate(_SHAPE)
        return self._shape

    def runs(self) -> list[tuple[int, int]]:
        """(start, end) of every run of at least 20 base64/base64url characters."""
        if self._runs is None:
            marked = self.latin.translate(_TOKEN)
            runs: list[tuple[int, int]] = []
            found = marked.find(_RUN_NEEDLE)
            while found >= 0:
                start = marked.rfind(b"\x00", 0, found) + 1
                end = marked.find(b"\x00", found)
                if end < 0:
                    end = len(marked)
                runs.append((start, end))
                found = marked.find(_RUN_NEEDLE, end)
            self._runs = runs
        return self._runs


def shannon(token: str) -> float:
    """Bits per character of ``token``'s own character distribution."""
    length = len(token)
    if not length:
        return 0.0
    return -sum(n / length * math.log2(n / length) for n in Counter(token).values())


def char_classes(token: str) -> tuple[bool, bool, bool]:
    """(has upper case, has lower case, has a digit)."""
    # Case-mapping and set operations run in C; a per-character Python loop would not.
    return token != token.lower(), token != token.upper(), not _DIGITS.isdisjoint(token)


_DIGITS = frozenset("0123456789")
