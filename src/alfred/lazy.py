"""Lazy package exports: a package's public names load from their modules on first use (PEP 562).

A package whose ``__init__`` re-exports everything makes importing any one of its modules import all
of them. Where that would pull heavy libraries into every start of the CLI or the gateway (SQLAlchemy
for the ledger, the safety detectors, the diagram renderers), the package maps each public name to the
module that defines it instead, and keeps the real imports under ``TYPE_CHECKING`` for type checkers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from types import MappingProxyType
from typing import Any


def lazy_exports(
    package: str, homes: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose ``homes`` maps a name to its submodule."""
    table = MappingProxyType(dict(homes))

    def __getattr__(name: str) -> Any:
        home = table.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f"{package}.{home}"), name)

    def __dir__() -> list[str]:
        return sorted({*vars(import_module(package)), *table})

    return __getattr__, __dir__
