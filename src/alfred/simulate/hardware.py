"""Hardware tables: how long one generation takes on each backend, and what a backend slot costs per hour.

A table is YAML: ``entries`` match a backend (its configured name or its kind), model, size and steps
(``"*"`` matches anything; the most specific match wins, then the first written) and give the
generation time as a distribution; ``hourly_cost_usd`` prices a slot of a backend (name or kind) per
hour it exists (a GPU Space tier), apart from any per-image price in the image model's config.
Built-in tables live beside this module (``hardware/*.yaml``); ``--hardware PATH`` reads another.
"""

from __future__ import annotations

from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError

from alfred.configbase import Strict
from alfred.simulate.distributions import Distribution


class HardwareError(ValueError):
    """A hardware table that cannot be found, read or used; the message says which and why."""


class ServiceTimeEntry(Strict):
    """Generation time on matching backends: seconds per request of one image (n images take n times it)."""

    backend: str = Field("*", description="a configured backend name or a backend kind")
    model: str = "*"
    size: str = "*"
    steps: int | str = "*"
    seconds: Distribution

    def matches(self, name: str, kind: str, model: str, size: str, steps: int) -> int | None:
        """How specific the match is (higher wins), or None when it does not match."""
        score = 0
        if self.backend == name:
            score += 8
        elif self.backend == kind:
            score += 4
        elif self.backend != "*":
            return None
        for wanted, actual, weight in (
            (self.model, model, 2),
            (self.size, size, 1),
            (str(self.steps), str(steps), 1),
        ):
            if wanted == actual:
                score += weight
            elif wanted != "*":
                return None
        return score


class HardwareTable(Strict):
    """Service times per backend and the hourly price of a slot."""

    name: str = "custom"
    description: str = ""
    sources: list[str] = Field(default_factory=list, description="where the figures come from")
    hourly_cost_usd: dict[str, Decimal] = Field(
        default_factory=dict, description="USD per slot-hour by backend name or kind"
    )
    entries: list[ServiceTimeEntry] = Field(min_length=1)

    def service_time(self, name: str, kind: str, model: str, size: str, steps: int) -> Distribution:
        best: tuple[int, int] | None = None
        for index, entry in enumerate(self.entries):
            score = entry.matches(name, kind, model, size, steps)
            if score is not None and (best is None or score > best[0]):
                best = (score, index)
        if best is None:
            raise HardwareError(
                f"hardware table {self.name!r} has no service time for backend {name!r} (kind {kind}, "
                f"model {model}, {size}, {steps} steps): add an entry for it"
            )
        return self.entries[best[1]].seconds

    def hourly_cost(self, name: str, kind: str) -> Decimal:
        return self.hourly_cost_usd.get(name, self.hourly_cost_usd.get(kind, Decimal(0)))


def builtin_tables() -> list[str]:
    folder = resources.files("alfred.simulate").joinpath("hardware")
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def _validate(raw: Any, where: str) -> HardwareTable:
    try:
        return HardwareTable.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise HardwareError(f"{where}: {loc}: {first['msg']}") from exc


def load_hardware(name_or_path: str) -> HardwareTable:
    """A built-in table by name (``seed``, ``cpu-basic``, …) or a YAML file by path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise HardwareError(f"{path}: cannot read the hardware table ({exc.strerror})") from exc
        return _validate(yaml.safe_load(text), str(path))
    if name_or_path not in builtin_tables():
        known = ", ".join(builtin_tables())
        raise HardwareError(
            f"unknown hardware table {name_or_path!r} (built in: {known}; or give a YAML path)"
        )
    text = resources.files("alfred.simulate").joinpath("hardware", f"{name_or_path}.yaml").read_text("utf-8")
    return _validate(yaml.safe_load(text), f"alfred/simulate/hardware/{name_or_path}.yaml")
