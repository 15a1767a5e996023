"""Load profiles: what players ask for over time, in YAML.

A profile has a day curve (requests per hour at given hours of the day, straight lines in between,
wrapping at midnight), an optional factor per weekday, bursts (a game launch: extra requests per
hour, or a multiple of the curve, for some hours of one day), and the request mix: the share of
requests that repeat an earlier one (what the result cache can answer), how many images a request
asks for, and its deadline. ``text:`` describes chat load per model group the same way.

``--profile NAME`` reads ``examples/profiles/NAME.yaml`` (relative to the working directory);
``--profile PATH`` reads that file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from alfred.configbase import Strict
from alfred.routing.settings import StrategyName
from alfred.simulate.distributions import Distribution

PROFILE_DIR = Path("examples/profiles")
ALL_STRATEGIES: tuple[StrategyName, ...] = ("weighted", "least-latency", "least-busy", "cheapest-within-sla")


class ProfileError(ValueError):
    """A profile that cannot be found, read or validated; the message names the file and the key."""


class DayCurve(Strict):
    """Requests per hour at hours of the day (0-24); straight lines in between, wrapping at midnight."""

    points: dict[float, float] = Field(min_length=1)
    weekdays: list[float] = Field(
        default_factory=lambda: [1.0] * 7, description="a factor per day of the week, day 0 first"
    )

    @field_validator("points")
    @classmethod
    def _hours_and_rates(cls, value: dict[float, float]) -> dict[float, float]:
        for hour, rate in value.items():
            if not 0 <= hour <= 24:
                raise ValueError(f"hour {hour:g} is outside 0-24")
            if rate < 0:
                raise ValueError(f"rate at hour {hour:g} is negative")
        return dict(sorted(value.items()))

    @field_validator("weekdays")
    @classmethod
    def _seven(cls, value: list[float]) -> list[float]:
        if len(value) != 7 or any(v < 0 for v in value):
            raise ValueError("weekdays needs seven non-negative factors")
        return value


class Burst(Strict):
    """Extra load for some hours of one day: a rate added on top, or the curve multiplied."""

    name: str = "burst"
    day: int = Field(0, ge=0, description="which day of the run (0 is the first)")
    start_hour: float = Field(ge=0, lt=24)
    hours: float = Field(gt=0, le=24 * 7)
    extra_per_hour: float = Field(0.0, ge=0, description="requests per hour added to the curve")
    multiplier: float = Field(1.0, ge=0, description="the curve is multiplied by this meanwhile")


class ImageLoad(Strict):
    """Image requests over time and what they ask for."""

    model: str | None = Field(None, description="the image model asked for (the config's default if unset)")
    tenant: str = "game"
    curve: DayCurve
    bursts: list[Burst] = Field(default_factory=list)
    repeat_share: float = Field(0.0, ge=0, le=1, description="share of requests repeating an earlier one")
    hot_set: int = Field(
        2000, ge=1, description="repeats pick uniformly among this many most recent distinct requests"
    )
    surface_variation: float = Field(
        0.25,
        ge=0,
        le=1,
        description="share of repeats written differently: case, spacing, field order (canonicalisation must match them)",
    )
    preset_share: float = Field(
        0.0, ge=0, le=1, description="share of new requests that use the weapon preset (with their own seed)"
    )
    images_per_request: dict[int, float] = Field(default_factory=lambda: {1: 1.0}, description="n → weight")
    wait_s: float | None = Field(
        None,
        gt=0,
        description="the requests' deadline (predicted-wait routes on it); None: the router's default",
    )

    @field_validator("images_per_request")
    @classmethod
    def _weights(cls, value: dict[int, float]) -> dict[int, float]:
        if (
            not value
            or any(n < 1 for n in value)
            or any(w < 0 for w in value.values())
            or sum(value.values()) <= 0
        ):
            raise ValueError("give n >= 1 with non-negative weights that sum above zero")
        return value


class GroupLoad(Strict):
    """Chat requests to one model group: a day curve in requests per hour and token counts."""

    curve: DayCurve
    input_tokens: Distribution
    output_tokens: Distribution


class DeploymentBehaviour(Strict):
    """How a deployment answers: latency to the whole answer, and how many calls it serves at once."""

    latency_s: Distribution
    per_output_token_s: float = Field(0.0, ge=0, description="added per generated token")
    concurrency: int = Field(64, ge=1, description="calls served at once; more wait in line")


class TextLoad(Strict):
    """Chat load per model group and the behaviour of each deployment (by deployment id or provider name)."""

    groups: dict[str, GroupLoad] = Field(min_length=1)
    deployments: dict[str, DeploymentBehaviour] = Field(min_length=1)
    strategies: list[StrategyName] = Field(default_factory=lambda: list(ALL_STRATEGIES), min_length=1)


class Profile(Strict):
    """A named load: image and/or chat traffic over ``days``, reproducible from ``seed``."""

    name: str = "profile"
    description: str = ""
    days: float = Field(1.0, gt=0, le=366)
    seed: int = 0
    hardware: str = Field("seed", description="the hardware table to use unless --hardware says otherwise")
    images: ImageLoad | None = None
    text: TextLoad | None = None

    @model_validator(mode="after")
    def _some_load(self) -> Profile:
        if self.images is None and self.text is None:
            raise ProfileError("a profile needs an images: or a text: load (or both)")
        return self


def profile_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    return PROFILE_DIR / f"{name_or_path}.yaml"


def load_profile(name_or_path: str) -> Profile:
    """Read and validate a profile; errors name the file and the key at fault."""
    path = profile_path(name_or_path)
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        hint = (
            f" (profiles: {', '.join(sorted(p.stem for p in PROFILE_DIR.glob('*.yaml')))})"
            if PROFILE_DIR.is_dir()
            else ""
        )
        raise ProfileError(f"{path}: cannot read the profile ({exc.strerror}){hint}") from exc
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ProfileError(f"{path}: the top level must be a mapping")
    raw.setdefault("name", path.stem)
    try:
        return Profile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ProfileError(f"{path}: {loc}: {first['msg']}") from exc
