"""Lookup outcomes per model group in this process, for the hit rates ``GET /admin/cache`` shows.

Prometheus has the same outcomes summed over every process (``alfred_requests_total{cache=…}``);
these are the local view the admin API can answer from without a metrics backend.
"""

from __future__ import annotations

from dataclasses import dataclass

# Group names come from requests; past this many, new names are not counted (memory stays bounded).
MAX_GROUPS = 1000
_COUNTED = frozenset({"hit", "stale", "semantic-hit", "miss"})


@dataclass(slots=True)
class GroupOutcomes:
    """How this process's lookups for one group ended (bypasses are not lookups)."""

    exact_hits: int = 0  # fresh and stale answers from the exact cache
    semantic_hits: int = 0
    misses: int = 0

    @property
    def lookups(self) -> int:
        return self.exact_hits + self.semantic_hits + self.misses

    def rates(self) -> tuple[float | None, float | None]:
        """(exact, semantic) hit rates over all lookups; None before the first lookup."""
        looked = self.lookups
        if looked == 0:
            return None, None
        return self.exact_hits / looked, self.semantic_hits / looked


class CacheCounters:
    """``GroupOutcomes`` by group; the cache stage records, the admin API reads."""

    def __init__(self, max_groups: int = MAX_GROUPS) -> None:
        self._groups: dict[str, GroupOutcomes] = {}
        self._max_groups = max_groups

    def record(self, group: str, status: str) -> None:
        """Count one lookup ending in ``status`` (hit | stale | semantic-hit | miss; others ignored)."""
        if status not in _COUNTED:
            return
        outcomes = self._groups.get(group)
        if outcomes is None:
            if len(self._groups) >= self._max_groups:
                return
            outcomes = self._groups[group] = GroupOutcomes()
        if status in ("hit", "stale"):
            outcomes.exact_hits += 1
        elif status == "semantic-hit":
            outcomes.semantic_hits += 1
        else:
            outcomes.misses += 1

    def of(self, group: str) -> GroupOutcomes:
        """A copy of the group's outcomes (zeros for a group never looked up)."""
        found = self._groups.get(group)
        return GroupOutcomes() if found is None else GroupOutcomes(*_fields(found))

    def groups(self) -> list[str]:
        return list(self._groups)


def _fields(outcomes: GroupOutcomes) -> tuple[int, int, int]:
    return outcomes.exact_hits, outcomes.semantic_hits, outcomes.misses
