"""Chat traffic on a virtual clock: requests/s per model group and what each routing strategy costs.

The groups, deployments and prices are the gateway's own catalog (``ModelCatalog.from_settings``);
the order of deployments comes from the real strategies (``routing/strategies.py``) over a real
``DeploymentHealth`` on the virtual clock. A request goes to the first deployment of that order (no
failures are modelled, so retries never happen). Each deployment serves ``concurrency`` calls at
once and the rest wait in line, so a strategy that piles onto one deployment pays in latency.
Cost is tokens times the deployment's price (its own, else its group's; none reads as free).
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
from rich.table import Table

from alfred.config import Settings
from alfred.routing.catalog import Deployment, ModelCatalog, ModelGroup
from alfred.routing.health import DeploymentHealth
from alfred.routing.settings import StrategyName
from alfred.routing.strategies import Strategy, build_strategy
from alfred.secrets import SecretResolver
from alfred.simulate.arrivals import arrival_times
from alfred.simulate.distributions import Sampler
from alfred.simulate.engine import EventQueue, VirtualClock
from alfred.simulate.profiles import DeploymentBehaviour, TextLoad
from alfred.simulate.report import DAYS_PER_MONTH, duration

_MTOK = Decimal(1_000_000)


class _NoSecrets:
    """A simulation calls no upstream: every secret reference resolves to a placeholder."""

    def get(self, reference: str) -> str:
        return "unused-by-simulation"


def text_catalog(settings: Settings) -> ModelCatalog:
    resolver = SecretResolver({"env": _NoSecrets(), "file": _NoSecrets(), "vault": _NoSecrets()})
    return ModelCatalog.from_settings(settings, resolver)


@dataclass(slots=True)
class _Line:
    """One deployment as the simulation sees it: its behaviour, calls running, calls waiting."""

    deployment: Deployment
    latency: Sampler
    per_token_s: float
    concurrency: int
    running: int = 0
    waiting: deque[tuple[int, float]] = field(default_factory=deque)  # (request, service seconds)
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class GroupFigures:
    """One model group under one strategy."""

    requests: int
    requests_per_s: float
    peak_requests_per_s: float  # the busiest minute
    p50_s: float
    p95_s: float
    cost_usd: Decimal
    deployment_share: dict[str, float]


@dataclass
class StrategyReport:
    """One strategy over every group."""

    strategy: str
    days: float
    groups: dict[str, GroupFigures]

    @property
    def cost_usd(self) -> Decimal:
        return sum((g.cost_usd for g in self.groups.values()), Decimal(0))

    @property
    def cost_per_day_usd(self) -> Decimal:
        return self.cost_usd / Decimal(repr(self.days))

    def as_json(self) -> dict[str, Any]:
        per_day = self.cost_per_day_usd
        return {
            "strategy": self.strategy,
            "cost_per_day_usd": float(per_day.quantize(Decimal("0.0001"))),
            "cost_per_month_usd": float((per_day * DAYS_PER_MONTH).quantize(Decimal("0.01"))),
            "groups": {
                name: {
                    "requests": g.requests,
                    "requests_per_s": round(g.requests_per_s, 4),
                    "peak_requests_per_s": round(g.peak_requests_per_s, 4),
                    "p50_s": round(g.p50_s, 3),
                    "p95_s": round(g.p95_s, 3),
                    "cost_usd": float(g.cost_usd.quantize(Decimal("0.0001"))),
                    "deployment_share": {k: round(v, 4) for k, v in g.deployment_share.items()},
                }
                for name, g in self.groups.items()
            },
        }


def _behaviour(load: TextLoad, deployment: Deployment) -> DeploymentBehaviour:
    found = load.deployments.get(deployment.id) or load.deployments.get(deployment.endpoint.provider)
    if found is None:
        raise ValueError(
            f"text.deployments: no behaviour for deployment {deployment.id!r} "
            f"(key it by that id or by its provider {deployment.endpoint.provider!r})"
        )
    return found


def simulate_strategy(
    settings: Settings,
    catalog: ModelCatalog,
    load: TextLoad,
    strategy_name: StrategyName,
    days: float,
    seed: int,
) -> StrategyReport:
    """One strategy over every loaded group; the same seed gives every strategy the same requests."""
    groups: list[ModelGroup] = []
    for name in load.groups:
        if name not in catalog:
            known = ", ".join(g.name for g in catalog.groups()) or "none"
            raise ValueError(f"text.groups: the config has no model group {name!r} (groups: {known})")
        groups.append(catalog.get(name))
    clock = VirtualClock()
    h = settings.routing.health
    health = DeploymentHealth(
        ewma_alpha=h.ewma_alpha,
        window=h.window,
        max_age_s=h.max_age_s,
        min_samples=h.min_samples,
        clock=clock,
    )
    strategy: Strategy = build_strategy(strategy_name, health, random.Random(seed), settings.routing.sla_ms)  # noqa: S311  # nosec B311 - ties, not security
    lines = {
        d.id: _Line(d, (b := _behaviour(load, d)).latency_s.sampler(), b.per_output_token_s, b.concurrency)
        for g in groups
        for d in g.deployments
    }
    # the same arrivals and token counts for every strategy
    stream_rng = np.random.default_rng(seed)
    per_group = [arrival_times(load.groups[g.name].curve, days, stream_rng) for g in groups]
    times = np.concatenate(per_group)
    group_of = np.concatenate([np.full(len(t), i, dtype=np.int64) for i, t in enumerate(per_group)])
    order = np.argsort(times, kind="stable")
    times, group_of = times[order].tolist(), group_of[order].tolist()
    token_rng = random.Random(seed + 1)  # noqa: S311  # nosec B311 - reproducible load
    samplers = [
        (load.groups[g.name].input_tokens.sampler(), load.groups[g.name].output_tokens.sampler())
        for g in groups
    ]
    service_rng = random.Random(seed + 2)  # noqa: S311  # nosec B311 - reproducible load
    latencies = [0.0] * len(times)
    chosen: list[str] = [""] * len(times)
    events: EventQueue[tuple[int, _Line]] = EventQueue()

    def begin(index: int, line: _Line, service: float) -> None:
        line.running += 1
        events.push(clock.now + service, (index, line))

    def finish(index: int, line: _Line) -> None:
        line.running -= 1
        latency = clock.now - times[index]
        latencies[index] = latency
        health.finished(line.deployment.id, latency * 1000.0, True)
        if line.waiting:
            nxt, service = line.waiting.popleft()
            begin(nxt, line, service)

    for index, at in enumerate(times):
        while events.next_time() <= at:
            clock.now, (done, line) = events.pop()
            finish(done, line)
        clock.now = at
        group = groups[group_of[index]]
        tokens_in, tokens_out = (max(0, round(s(token_rng))) for s in samplers[group_of[index]])
        deployment = strategy.order(group.deployments)[0]
        line = lines[deployment.id]
        line.requests += 1
        line.input_tokens += tokens_in
        line.output_tokens += tokens_out
        chosen[index] = deployment.id
        health.started(deployment.id)
        service = line.latency(service_rng) + line.per_token_s * tokens_out
        if line.running < line.concurrency:
            begin(index, line, service)
        else:
            line.waiting.append((index, service))
    while len(events):
        clock.now, (done, line) = events.pop()
        finish(done, line)
    return StrategyReport(
        strategy_name, days, _figures(groups, lines, times, group_of, latencies, chosen, days)
    )


def _figures(
    groups: list[ModelGroup],
    lines: dict[str, _Line],
    times: list[float],
    group_of: list[int],
    latencies: list[float],
    chosen: list[str],
    days: float,
) -> dict[str, GroupFigures]:
    out = {}
    t, g, lat = np.asarray(times), np.asarray(group_of), np.asarray(latencies)
    seconds = days * 86400.0
    for i, group in enumerate(groups):
        mine = g == i
        count = int(mine.sum())
        per_minute = np.bincount((t[mine] // 60).astype(np.int64)) if count else np.zeros(1)
        cost = Decimal(0)
        share = {}
        for d in group.deployments:
            line = lines[d.id]
            if d.price is not None:
                cost += (
                    line.input_tokens * d.price.input_per_mtok + line.output_tokens * d.price.output_per_mtok
                ) / _MTOK
            share[d.id] = line.requests / count if count else 0.0
        out[group.name] = GroupFigures(
            requests=count,
            requests_per_s=count / seconds,
            peak_requests_per_s=float(per_minute.max()) / 60.0,
            p50_s=float(np.percentile(lat[mine], 50)) if count else 0.0,
            p95_s=float(np.percentile(lat[mine], 95)) if count else 0.0,
            cost_usd=cost,
            deployment_share=share,
        )
    return out


def text_table(reports: list[StrategyReport], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for header in ("strategy", "group", "req/s", "peak req/s", "p50", "p95", "$/day", "$/month", "share"):
        table.add_column(header, justify="left" if header in ("strategy", "group", "share") else "right")
    for report in reports:
        for name, g in report.groups.items():
            per_day = g.cost_usd / Decimal(repr(report.days))
            shares = ", ".join(f"{d.split('/')[1]} {s:.0%}" for d, s in g.deployment_share.items())
            table.add_row(
                report.strategy, name, f"{g.requests_per_s:.2f}", f"{g.peak_requests_per_s:.2f}",
                duration(g.p50_s), duration(g.p95_s), f"{per_day:.2f}", f"{per_day * DAYS_PER_MONTH:.2f}", shares,
            )  # fmt: skip
    return table
