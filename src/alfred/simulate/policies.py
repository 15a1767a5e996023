"""The routing policies a simulation compares, each a variant of the config's own router settings.

Every variant becomes the image pipeline's real ``QueueDepthRouter`` (through ``from_settings``),
so a simulated decision is the gateway's decision. Names are what reports and ``--policy`` use:
``queue-depth:50`` (the seed's rule at threshold 50), ``predicted-wait:60`` (deadline 60 s for
requests that set none), ``always-primary``, ``always-fallback``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from alfred.images.router import Clock, QueueDepthRouter
from alfred.images.settings import RouterSettings

DEFAULT_THRESHOLDS = (5, 10, 20, 50)
DEFAULT_DEADLINES_S = (60.0, 120.0)


class PolicyError(ValueError):
    """A policy name that does not parse."""


@dataclass(frozen=True, slots=True)
class PolicyVariant:
    """One policy to simulate: its name, the router settings it stands for, and whether it is the config's."""

    name: str
    settings: RouterSettings
    configured: bool = False

    def router(self, clock: Clock) -> QueueDepthRouter:
        return QueueDepthRouter.from_settings(self.settings, clock)


def _name(settings: RouterSettings) -> str:
    if settings.policy == "queue-depth":
        return f"queue-depth:{settings.threshold}"
    if settings.policy == "predicted-wait":
        return f"predicted-wait:{settings.default_deadline_s:g}"
    return settings.policy


def parse_policy(spec: str, base: RouterSettings) -> PolicyVariant:
    """``queue-depth:N``, ``predicted-wait:SECONDS``, ``always-primary`` or ``always-fallback``."""
    kind, _, value = spec.strip().partition(":")
    try:
        if kind == "queue-depth":
            threshold = int(value) if value else base.threshold
            if threshold < 0:
                raise ValueError
            settings = base.model_copy(update={"policy": kind, "threshold": threshold})
        elif kind == "predicted-wait":
            deadline = float(value) if value else base.default_deadline_s
            if deadline <= 0:
                raise ValueError
            settings = base.model_copy(update={"policy": kind, "default_deadline_s": deadline})
        elif kind in ("always-primary", "always-fallback") and not value:
            settings = base.model_copy(update={"policy": kind})
        else:
            raise ValueError
    except ValueError:
        raise PolicyError(
            f"policy {spec!r}: expected queue-depth:N, predicted-wait:SECONDS, always-primary or always-fallback"
        ) from None
    return PolicyVariant(_name(settings), settings)


def default_variants(
    base: RouterSettings,
    thresholds: Iterable[int] = DEFAULT_THRESHOLDS,
    deadlines_s: Iterable[float] = DEFAULT_DEADLINES_S,
) -> list[PolicyVariant]:
    """The config's own policy first, then depth thresholds, predicted wait, and the two extremes.

    The config's spend cap and service-time prior carry over to every variant, so only the rule differs.
    """
    configured = PolicyVariant(_name(base), base, configured=True)
    variants = [configured]
    specs = [f"queue-depth:{t}" for t in thresholds]
    specs += [f"predicted-wait:{d:g}" for d in deadlines_s]
    specs += ["always-primary", "always-fallback"]
    for spec in specs:
        variant = parse_policy(spec, base)
        if variant.name != configured.name:
            variants.append(variant)
    return variants
