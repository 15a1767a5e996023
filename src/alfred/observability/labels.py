"""Bounded label values: no request can mint a new time series.

Model groups and deployments pass only as configured; statuses are codes from a fixed list (others
become their class, ``5xx``); open-ended sets such as teams admit a capped number of values; anything
else reads ``other``.
"""

from __future__ import annotations

from collections.abc import Iterable

OTHER = "other"
NONE = "none"

# What the gateway itself answers (the error family's statuses, plus 499: the client went away).
STATUS_CODES = frozenset(
    {200, 400, 401, 402, 403, 404, 405, 408, 409, 413, 422, 429, 499, 500, 502, 503, 504}
)
# The cache stage's ``call.cache_status`` values, spelled as the X-Alfred-Cache header spells them.
CACHE_RESULTS = frozenset({"hit", "miss", "semantic-hit", "bypass", "stale", NONE})
ENDPOINTS = frozenset({"chat", "embeddings", "messages", "images", "completions"})
# The rate-limit stage's scopes, plus "deployment": every deployment of a call was at its rpm/tpm cap.
RATE_LIMIT_SCOPES = frozenset({"key", "user", "team", "model", "ip", "deployment", "upstream"})
BREAKER_STATES = ("closed", "half_open", "open")
IMAGE_ROUTES = frozenset({"primary", "fallback", "cache"})
IMAGE_OUTCOMES = frozenset({"ok", "error", "timeout", "cancelled"})
RESERVATION_EVENTS = frozenset({"reserved", "settled", "released", "expired"})


class BoundedLabel:
    """Maps raw values onto a bounded set: known values pass, the first ``cap`` others too, the rest read ``other``."""

    __slots__ = ("_admitted", "_cap")

    def __init__(self, known: Iterable[str] = (), cap: int = 0) -> None:
        self._admitted = set(known)
        self._cap = len(self._admitted) + cap

    def __call__(self, value: str | None) -> str:
        if value is None:
            return NONE
        if value in self._admitted:
            return value
        if len(self._admitted) < self._cap:
            self._admitted.add(value)
            return value
        return OTHER


def status_label(code: int) -> str:
    """An HTTP status as a label: the code when it is one the gateway answers, else its class (``5xx``)."""
    return str(code) if code in STATUS_CODES else f"{code // 100}xx"


def fixed(value: str | None, allowed: frozenset[str]) -> str:
    """``value`` when it is in ``allowed``, ``none`` for None, else ``other``."""
    if value is None:
        return NONE
    return value if value in allowed else OTHER
