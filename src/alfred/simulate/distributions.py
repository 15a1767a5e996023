"""Random quantities of a simulation (service times, token counts), written in YAML by their shape.

``{dist: fixed, value: 30}``, ``{dist: uniform, low: 20, high: 60}``,
``{dist: lognormal, median: 10, p95: 25}`` (a right-skewed latency: most near the median, a long
tail) and ``{dist: empirical, samples: [...]}`` (measured figures, drawn with replacement).
Each compiles to a plain sampler over an injected ``random.Random``, so a run is reproducible from
its seed and two runs that share a seed draw the same sequence.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import Field, model_validator

from alfred.configbase import Strict

Sampler = Callable[[random.Random], float]

_Z95 = 1.6448536269514722  # the standard normal's 95th percentile


class Fixed(Strict):
    """Always the same value."""

    dist: Literal["fixed"] = "fixed"
    value: float = Field(ge=0)

    def sampler(self) -> Sampler:
        value = self.value
        return lambda rng: value

    @property
    def mean(self) -> float:
        return self.value


class Uniform(Strict):
    """Any value between ``low`` and ``high``, equally likely (the seed's "20-60 s")."""

    dist: Literal["uniform"] = "uniform"
    low: float = Field(ge=0)
    high: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError("high must be at least low")
        return self

    def sampler(self) -> Sampler:
        low, high = self.low, self.high
        return lambda rng: rng.uniform(low, high)

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2


class LogNormal(Strict):
    """A latency with a long tail, given by its median and 95th percentile."""

    dist: Literal["lognormal"] = "lognormal"
    median: float = Field(gt=0)
    p95: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> LogNormal:
        if self.p95 < self.median:
            raise ValueError("p95 must be at least the median")
        return self

    @property
    def sigma(self) -> float:
        return (math.log(self.p95) - math.log(self.median)) / _Z95

    def sampler(self) -> Sampler:
        mu, sigma = math.log(self.median), self.sigma
        return lambda rng: rng.lognormvariate(mu, sigma)

    @property
    def mean(self) -> float:
        return self.median * math.exp(self.sigma**2 / 2)


class Empirical(Strict):
    """Measured values, drawn with replacement."""

    dist: Literal["empirical"] = "empirical"
    samples: list[float] = Field(min_length=1)

    def sampler(self) -> Sampler:
        values = list(self.samples)
        return lambda rng: rng.choice(values)

    @property
    def mean(self) -> float:
        return sum(self.samples) / len(self.samples)


Distribution = Annotated[Fixed | Uniform | LogNormal | Empirical, Field(discriminator="dist")]
