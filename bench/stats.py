"""Small statistics the harness needs: percentiles of samples and median/min/max across repeats."""

from __future__ import annotations

from collections.abc import Sequence


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0..100) by linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, min and max of one figure across repeats (the median is what tables quote)."""
    if not values:
        raise ValueError("spread of no values")
    return {
        "median": round(percentile(values, 50), 4),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
    }
