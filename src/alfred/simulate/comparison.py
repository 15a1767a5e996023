"""One comparison: a config, a load profile and a hardware table, run once per routing policy.

The request stream (times, wordings, cache keys) is built once and shared, so every policy sees the
same players asking for the same things; each policy gets a fresh clock, router, queues and cache.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from alfred.config import Settings, load_settings
from alfred.images.presets import PresetBook
from alfred.images.settings import ImageModelSettings, ImageSettings
from alfred.simulate.arrivals import ImageArrivals, generate_arrivals
from alfred.simulate.engine import VirtualClock, collector_paused
from alfred.simulate.hardware import HardwareTable
from alfred.simulate.image_model import ImagePipelineSimulation, ImageRun
from alfred.simulate.parallel import run_tasks
from alfred.simulate.policies import PolicyVariant
from alfred.simulate.profiles import ImageLoad
from alfred.simulate.report import PolicyReport, Recommendation, recommend, summarise
from alfred.state.memory import MemoryKeyValueStore

_UNDEFAULTED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

Progress = Callable[[str, int, int], None]
"""(policy name, requests done, requests in all)."""


class SimulationError(ValueError):
    """Inputs that cannot be simulated together; the message says what to change."""


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """The gateway's settings from ``path``, as ``alfred serve`` reads them.

    A simulation calls no upstream, so a ``${VAR}`` without a default that is unset (the mock's URL,
    a key) is left as written instead of failing; ``${VAR:-default}`` expands as usual.
    """
    env = dict(os.environ if environ is None else environ)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        text = ""  # load_settings reports the unreadable file
    for name in _UNDEFAULTED.findall(text):
        env.setdefault(name, "${" + name + "}")
    return load_settings(path, environ=env)


def image_model(settings: ImageSettings, name: str | None) -> ImageModelSettings:
    model = settings.model(name)
    if model is None:
        known = ", ".join(m.name for m in settings.models) or "none"
        raise SimulationError(
            f"the config has no image model {name or '(default)'!r} (image models: {known})"
        )
    return model


def build_arrivals(
    settings: ImageSettings,
    load: ImageLoad,
    days: float,
    seed: int,
    presets: PresetBook | None = None,
    *,
    jobs: int = 1,
) -> ImageArrivals:
    model = image_model(settings, load.model)
    if presets is None:
        presets = PresetBook.load(settings.presets_file) if settings.presets_file else PresetBook.builtin()
    with collector_paused():
        return generate_arrivals(load, days, model, presets, seed, jobs=jobs)


async def run_policy(
    settings: ImageSettings,
    arrivals: ImageArrivals,
    variant: PolicyVariant,
    hardware: HardwareTable,
    days: float,
    *,
    seed: int = 0,
    shared_cache: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImageRun:
    """One policy over the shared request stream, on its own virtual clock."""
    clock = VirtualClock()
    router = variant.router(clock)
    simulation = ImagePipelineSimulation(
        settings,
        arrivals.model,
        router,
        clock,
        hardware,
        seed=seed,
        l2=MemoryKeyValueStore(clock) if shared_cache else None,
    )
    with collector_paused():
        return await simulation.run(arrivals, days * 86400.0, progress)


@dataclass
class ImageStudy:
    """Every policy's figures over one request stream, and what Alfred recommends instead of the configured one."""

    model: str
    requests: int
    distinct_requests: int
    reports: list[PolicyReport]
    recommendations: list[Recommendation]


def _slowest_first(variants: list[PolicyVariant]) -> list[int]:
    """Always-primary goes first: its backlog drains for weeks after the horizon, so it runs longest."""
    return sorted(range(len(variants)), key=lambda i: variants[i].settings.policy != "always-primary")


def study_images(
    settings: Settings,
    load: ImageLoad,
    variants: list[PolicyVariant],
    hardware: HardwareTable,
    days: float,
    seed: int,
    progress: Progress | None = None,
    *,
    jobs: int = 1,
) -> ImageStudy:
    """Every variant over the same request stream, in up to ``jobs`` processes (the figures do not
    depend on how many). The L2 cache is on when the state backend is Redis."""
    images = settings.images
    if not images.models:
        raise SimulationError("the config has no image models (an images: section with models)")
    if progress is not None:
        progress("request stream", 0, 1)
    arrivals = build_arrivals(images, load, days, seed, jobs=jobs)
    if progress is not None:
        progress("request stream", 1, 1)
    shared = settings.state.backend == "redis"

    def simulate(variant: PolicyVariant, tick: Callable[[int], None]) -> PolicyReport:
        run = asyncio.run(
            run_policy(
                images, arrivals, variant, hardware, days, seed=seed, shared_cache=shared, progress=tick
            )
        )
        return summarise(variant, run, arrivals.times, arrivals.n, days)

    def ticked(index: int, done: int) -> None:
        if progress is not None:
            progress(variants[index].name, done, len(arrivals))

    for index in range(len(variants)):  # a bar per policy from the start, in the report's order
        ticked(index, 0)

    reports = run_tasks(variants, simulate, jobs=jobs, order=_slowest_first(variants), progress=ticked)
    return ImageStudy(arrivals.model.name, len(arrivals), arrivals.distinct, reports, recommend(reports))
