"""The caches seen per model group, and the flush: what ``GET /admin/cache`` and its flush serve.

Entry counts and hit rates are this process's: L1 and the semantic index are per process (Redis
L2 entries are not counted: counting them would mean scanning Redis's key space). Only entries of
the group's current generation count; older ones are unreachable and only wait to age out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from alfred.cache.build import Caches


@dataclass(frozen=True, slots=True)
class GroupSummary:
    """One group's live entries in this process and its hit rates (None before the first lookup)."""

    group: str
    generation: int
    exact_entries: int
    semantic_entries: int
    lookups: int
    exact_hit_rate: float | None
    semantic_hit_rate: float | None


@dataclass(frozen=True, slots=True)
class Flushed:
    """A flush: the group's new generation, and what this process dropped from memory at once."""

    group: str
    generation: int
    exact_entries_dropped: int
    semantic_entries_dropped: int


def cached_groups(caches: Caches, known: Iterable[str]) -> list[str]:
    """The groups with caching on: ``known`` (the catalog's), configured ones, and any seen in use."""
    names = set(known) | set(caches.settings.groups) | set(caches.counters.groups())
    names.update(group for group, _ in caches.exact.count_by_group())
    return sorted(name for name in names if caches.settings.group(name).enabled)


async def summarize(caches: Caches, groups: Iterable[str]) -> list[GroupSummary]:
    """Each group's entries (current generation only) and hit rates, in this process."""
    exact = caches.exact.count_by_group()
    semantic = caches.semantic.count_by_group() if caches.semantic is not None else Counter()
    summaries = []
    for group in groups:
        generation = await caches.generations.current(group)
        outcomes = caches.counters.of(group)
        exact_rate, semantic_rate = outcomes.rates()
        summaries.append(
            GroupSummary(
                group=group,
                generation=generation,
                exact_entries=exact[(group, generation)],
                semantic_entries=semantic[(group, generation)],
                lookups=outcomes.lookups,
                exact_hit_rate=exact_rate,
                semantic_hit_rate=semantic_rate,
            )
        )
    return summaries


async def flush(caches: Caches, group: str) -> Flushed:
    """Start a new generation for ``group`` (every process stops seeing its entries within the
    generation cache's TTL) and free this process's memory of the old ones now."""
    generation = await caches.generations.bump(group)
    exact = caches.exact.forget_group(group, generation)
    semantic = caches.semantic.forget_group(group, generation) if caches.semantic is not None else 0
    return Flushed(group, generation, exact, semantic)
