"""Request-path transactions written as *scripts*: generators that yield ``Step``s (SQL and its
parameters) and are sent back each statement's rows, so one driver can run them on SQLite or
PostgreSQL (``alfred.ledger.trips``)."""

from __future__ import annotations

import re
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
Row = Sequence[Any]
Script = Generator["Step", list[Row], T]

_NAME = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class Fallback(Exception):
    """Raised by a script to roll back and send the caller down its general (ORM) path."""


class Query:
    """One SQL statement with ``:name`` parameters, and its PostgreSQL form with ``$n`` ones."""

    __slots__ = ("names", "postgresql", "sqlite")

    def __init__(self, sql: str) -> None:
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match[1] not in names:
                names.append(match[1])
            return f"${names.index(match[1]) + 1}"

        self.sqlite = " ".join(sql.split())
        self.postgresql = _NAME.sub(number, self.sqlite)
        self.names = tuple(names)

    def __call__(self, **params: Any) -> Step:
        return Step(self, params)


@dataclass(frozen=True, slots=True)
class Step:
    query: Query
    params: Mapping[str, Any]


def advance(script: Script[T], rows: list[Row] | None) -> tuple[Step | None, T]:
    """The script's next step, or None and its result once it returns."""
    try:
        return script.send(rows), None  # type: ignore[arg-type,return-value]
    except StopIteration as done:
        return None, done.value
