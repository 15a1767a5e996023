"""What a detector reports: a typed span (PII, secrets) or a scored signal (prompt injection).

Findings carry offsets, never copies of the matched text, so nothing sensitive is kept by accident.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """One detected value in a text: its kind (``EMAIL``, ``AWS_SECRET_KEY``…) and where it is."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Signal:
    """One prompt-injection pattern that matched, with the weight it adds to the score."""

    category: str  # instruction_override | role_play | exfiltration | delimiter | encoding
    rule: str
    weight: float


def combine(weights: list[float]) -> float:
    """Noisy-OR of independent signals: 1 - Π(1 - w); never above 1, grows with each signal."""
    remaining = 1.0
    for weight in weights:
        remaining *= 1.0 - weight
    return round(1.0 - remaining, 4)


def drop_overlaps(spans: list[Span]) -> list[Span]:
    """Sort by start and keep the first (longest at equal start) of overlapping spans."""
    spans.sort(key=lambda s: (s.start, -s.end))
    kept: list[Span] = []
    for span in spans:
        if kept and span.start < kept[-1].end:
            continue
        kept.append(span)
    return kept
