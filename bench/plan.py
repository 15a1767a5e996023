"""What a run measures: the load cases of each scenario, and the run's sizes (full or smoke)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from bench import bodies

T = TypeVar("T")


@dataclass(frozen=True)
class Case:
    """One row of a table: a label, the server it loads, the body kind it sends, at one concurrency."""

    scenario: str
    label: str
    target: str
    body: str  # "small" | "2kb" | "unique" (a new prompt per request)
    concurrency: int

    @property
    def text(self) -> str:
        return {"small": bodies.SMALL, "2kb": bodies.LARGE, "unique": bodies.UNIQUE}[self.body]

    @property
    def unique(self) -> bool:
        return self.body == "unique"


@dataclass(frozen=True)
class Sizes:
    """How long and how often: the full run's sizes, or the CI smoke's."""

    duration_s: float
    repeat: int
    soak_requests: int
    soak_max_s: float
    cold_starts: int
    passthrough_concurrency: tuple[int, ...]
    feature_concurrency: tuple[int, ...]


FULL = Sizes(8.0, 3, 100_000, 240.0, 5, (1, 32, 128), (1, 32))
SMOKE = Sizes(2.0, 1, 5_000, 20.0, 2, (1, 32), (32,))

PASSTHROUGH_TARGETS = (("direct", "direct"), ("bare", "bare"), ("alfred", "alfred"), ("litellm", "litellm"))

# (label, target, body): Alfred with one feature on at a time, next to its references.
FEATURE_ROWS = (
    ("direct", "direct", "small"),
    ("bare", "bare", "small"),
    ("alfred", "alfred", "small"),
    ("alfred, shipped defaults", "alfred-defaults", "small"),
    ("direct (2 KB)", "direct", "2kb"),
    ("bare (2 KB)", "bare", "2kb"),
    ("alfred (2 KB)", "alfred", "2kb"),
    ("alfred + safety (2 KB)", "alfred-safety", "2kb"),
    ("alfred + exact cache, hit", "alfred-cache", "small"),
    ("alfred + exact cache, miss", "alfred-cache", "unique"),
    ("alfred + semantic cache lookup", "alfred-semantic", "unique"),
    ("alfred, full governance (SQLite)", "alfred-governance", "unique"),
    ("alfred, full governance (PostgreSQL + Redis)", "alfred-governance-pg", "unique"),
)

STREAM_TARGETS = (
    ("direct", "direct-stream"),
    ("bare", "bare-stream"),
    ("alfred", "alfred"),
    ("litellm", "litellm"),
)


def load_cases(sizes: Sizes, available: set[str]) -> list[Case]:
    """Every wrk case of scenarios 1 and 3 whose server is running."""
    cases = [
        Case("passthrough", label, target, "small", c)
        for c in sizes.passthrough_concurrency
        for label, target in PASSTHROUGH_TARGETS
    ]
    cases += [
        Case("features", label, target, body, c)
        for c in sizes.feature_concurrency
        for label, target, body in FEATURE_ROWS
    ]
    return [case for case in cases if case.target in available]


def interleaved(cases: list[T], round_no: int) -> list[T]:
    """The cases rotated by the round number, so no target always runs first (or right after another)."""
    if not cases:
        return []
    shift = round_no % len(cases)
    return cases[shift:] + cases[:shift]
