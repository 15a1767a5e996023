"""Per-policy figures from a simulated run: throughput, time to image, routes, cache, cost, queue depth.

Time to image counts every request (a cache hit waits 0 s), because that is what players feel.
Fallback share is the share of rendered requests (cache hits excluded) that went to the fallback.
Cost is the per-image prices of both routes plus the hardware's slot-hours over the horizon; a
month is 30 days. Throughput counts images delivered within the horizon; requests still queued at
its end are finished afterwards and their waits count in full.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
from rich.table import Table

from alfred.simulate.image_model import CACHE, FALLBACK, PRIMARY, ImageRun
from alfred.simulate.policies import PolicyVariant

DAYS_PER_MONTH = 30
_SERIES_POINTS = 720  # queue depth points per policy in reports and plots
_P95_MARGIN = 0.05
_COST_MARGIN = Decimal("0.01")


@dataclass
class DepthSeries:
    """The primary queue's depth (waiting + running) over the horizon: the max in each interval."""

    interval_s: float
    maxima: list[int]
    mean: float
    max: int
    at_end: int


@dataclass
class PolicyReport:
    """One policy's figures."""

    name: str
    policy: str
    threshold: int | None
    deadline_s: float | None
    configured: bool
    days: float
    requests: int
    images: int
    images_per_hour: float
    peak_images_per_hour: float
    p50_s: float
    p95_s: float
    p99_s: float
    p95_rendered_s: float
    max_s: float
    over_deadline_share: float  # requests that waited past the deadline (theirs, or the router's default)
    deadline_checked_s: float
    fallback_share: float
    route_share: dict[str, float]
    cache_hit_rate: float
    cost_usd: Decimal
    cost_per_day_usd: Decimal
    cost_per_month_usd: Decimal
    cost_breakdown_usd: dict[str, Decimal]
    mean_service_time_s: float
    depth: DepthSeries
    decisions: dict[str, int] = field(default_factory=dict)

    def as_json(self, series: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "policy": self.policy,
            "threshold": self.threshold,
            "deadline_s": self.deadline_s,
            "configured": self.configured,
            "requests": self.requests,
            "images": self.images,
            "images_per_hour": round(self.images_per_hour, 2),
            "peak_images_per_hour": round(self.peak_images_per_hour, 2),
            "p50_s": round(self.p50_s, 3),
            "p95_s": round(self.p95_s, 3),
            "p99_s": round(self.p99_s, 3),
            "p95_rendered_s": round(self.p95_rendered_s, 3),
            "max_s": round(self.max_s, 3),
            "over_deadline_share": round(self.over_deadline_share, 4),
            "deadline_checked_s": self.deadline_checked_s,
            "fallback_share": round(self.fallback_share, 4),
            "route_share": {k: round(v, 4) for k, v in self.route_share.items()},
            "cache_hit_rate": round(self.cache_hit_rate, 4),
            "cost_usd": _money(self.cost_usd),
            "cost_per_day_usd": _money(self.cost_per_day_usd),
            "cost_per_month_usd": _money(self.cost_per_month_usd),
            "cost_breakdown_usd": {k: _money(v) for k, v in self.cost_breakdown_usd.items()},
            "mean_service_time_s": round(self.mean_service_time_s, 3),
            "queue_depth": {
                "mean": round(self.depth.mean, 3),
                "max": self.depth.max,
                "at_end": self.depth.at_end,
            },
            "decisions": self.decisions,
        }
        if series:
            out["queue_depth"]["interval_s"] = self.depth.interval_s
            out["queue_depth"]["maxima"] = self.depth.maxima
        return out


def _money(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01")))


def depth_series(run: ImageRun, points: int = _SERIES_POINTS) -> DepthSeries:
    horizon = run.horizon_s
    times = np.array(run.depth_times, dtype=np.float64)
    values = np.array(run.depth_values, dtype=np.int64)
    interval = horizon / points
    starts = np.arange(points) * interval
    carried = values[np.searchsorted(times, starts, side="right") - 1]
    maxima = carried.copy()
    buckets = (times // interval).astype(np.int64)
    inside = buckets < points
    np.maximum.at(maxima, buckets[inside], values[inside])
    clipped = np.clip(times, 0.0, horizon)
    durations = np.diff(np.append(clipped, horizon))
    mean = float(np.sum(values * durations) / horizon) if horizon > 0 else 0.0
    at_end = int(values[np.searchsorted(times, horizon, side="right") - 1])
    return DepthSeries(interval, maxima.tolist(), mean, int(maxima.max(initial=0)), at_end)


def summarise(
    variant: PolicyVariant,
    run: ImageRun,
    arrival_times: list[float],
    images_per_request: list[int],
    days: float,
) -> PolicyReport:
    """The figures of one policy's run (``arrival_times``/``images_per_request`` index the requests)."""
    settings = variant.settings
    waits = np.array(run.waits, dtype=np.float64)
    routes = np.array(run.routes, dtype=np.int8)
    served = np.array(run.served, dtype=np.int64)
    n = np.asarray(images_per_request, dtype=np.int64)[served]
    finished = np.asarray(arrival_times, dtype=np.float64)[served] + waits
    horizon = run.horizon_s
    hours = horizon / 3600.0
    in_horizon = finished <= horizon
    hourly = np.bincount((finished[in_horizon] // 3600).astype(np.int64), weights=n[in_horizon])
    rendered = waits[routes != CACHE]
    counts = {
        name: int(np.count_nonzero(routes == code))
        for name, code in (("cache", CACHE), ("primary", PRIMARY), ("fallback", FALLBACK))
    }
    total = max(1, len(waits))
    renders = counts["primary"] + counts["fallback"]
    deadline = settings.default_deadline_s

    def pct(values: np.ndarray, q: float) -> float:
        return float(np.percentile(values, q)) if values.size else 0.0

    breakdown = {
        "fallback_images": run.spend["fallback"],
        "primary_images": run.spend["primary"],
        "primary_hardware": run.hardware_cost,
    }
    cost = sum(breakdown.values(), Decimal(0))
    per_day = cost / Decimal(repr(days))
    return PolicyReport(
        name=variant.name,
        policy=settings.policy,
        threshold=settings.threshold if settings.policy == "queue-depth" else None,
        deadline_s=settings.default_deadline_s if settings.policy == "predicted-wait" else None,
        configured=variant.configured,
        days=days,
        requests=run.requests,
        images=int(n.sum()),
        images_per_hour=float(n[in_horizon].sum() / hours) if hours else 0.0,
        peak_images_per_hour=float(hourly.max(initial=0.0)),
        p50_s=pct(waits, 50),
        p95_s=pct(waits, 95),
        p99_s=pct(waits, 99),
        p95_rendered_s=pct(rendered, 95),
        max_s=float(waits.max(initial=0.0)),
        over_deadline_share=float(np.count_nonzero(waits > deadline) / total),
        deadline_checked_s=deadline,
        fallback_share=counts["fallback"] / renders if renders else 0.0,
        route_share={name: count / total for name, count in counts.items()},
        cache_hit_rate=run.cache_hit_rate,
        cost_usd=cost,
        cost_per_day_usd=per_day,
        cost_per_month_usd=per_day * DAYS_PER_MONTH,
        cost_breakdown_usd=breakdown,
        mean_service_time_s=run.mean_service_time_s,
        depth=depth_series(run),
        decisions=dict(sorted(run.decisions.items())),
    )


@dataclass(frozen=True)
class Recommendation:
    """A policy that beats the configured one on one axis without losing on the other."""

    name: str
    why: str
    p95_s: float
    cost_per_month_usd: Decimal

    def as_json(self) -> dict[str, Any]:
        return {
            "policy": self.name,
            "why": self.why,
            "p95_s": round(self.p95_s, 3),
            "cost_per_month_usd": _money(self.cost_per_month_usd),
        }


def recommend(reports: list[PolicyReport]) -> list[Recommendation]:
    """Against the configured policy: the lowest p95 at no more cost, and the lowest cost at no worse p95.

    Gains within the margins (5% of p95, 1% of cost) are noise of the run, not a reason to switch."""
    base = next((r for r in reports if r.configured), None)
    if base is None:
        return []
    others = [r for r in reports if r is not base]
    out: list[Recommendation] = []
    # a win must be worth a change of policy: 5% off the p95 (and a second), or 1% off the cost
    faster = base.p95_s * (1 - _P95_MARGIN) - 1.0
    cheaper = base.cost_per_month_usd * (1 - _COST_MARGIN)
    no_dearer = [r for r in others if r.cost_per_month_usd <= base.cost_per_month_usd and r.p95_s <= faster]
    if no_dearer:
        best = min(no_dearer, key=lambda r: (r.p95_s, r.cost_per_month_usd))
        out.append(
            Recommendation(
                best.name,
                f"p95 {duration(best.p95_s)} instead of {duration(base.p95_s)} at "
                f"${best.cost_per_month_usd:.2f}/month (configured {base.name}: ${base.cost_per_month_usd:.2f})",
                best.p95_s,
                best.cost_per_month_usd,
            )
        )
    no_slower = [r for r in others if r.p95_s <= base.p95_s and r.cost_per_month_usd <= cheaper]
    if no_slower:
        best = min(no_slower, key=lambda r: (r.cost_per_month_usd, r.p95_s))
        if not out or out[0].name != best.name:
            out.append(
                Recommendation(
                    best.name,
                    f"${best.cost_per_month_usd:.2f}/month instead of ${base.cost_per_month_usd:.2f} with p95 "
                    f"{duration(best.p95_s)} (configured {base.name}: {duration(base.p95_s)})",
                    best.p95_s,
                    best.cost_per_month_usd,
                )
            )
    return out


def duration(seconds: float) -> str:
    """Seconds in the unit a person reads best."""
    if math.isnan(seconds):
        return "-"
    if seconds < 100:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 6000:
        return f"{seconds / 60:.1f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def image_table(reports: list[PolicyReport], title: str) -> Table:
    """The comparison as a rich table; the configured policy is marked with *.

    img/h and peak: images delivered per hour (mean, busiest hour); p50/p95/p99: time to image over
    every request; fallback: share of rendered requests; hit: result cache; depth: mean and max of
    the primary queue."""
    table = Table(title=title, title_justify="left")
    for header in ("policy", "img/h", "peak", "p50", "p95", "p99", "fallback", "hit", "$/day", "$/month",
                   "depth", "max"):  # fmt: skip
        table.add_column(header, justify="left" if header == "policy" else "right", no_wrap=True)
    for r in reports:
        table.add_row(
            f"{r.name} *" if r.configured else r.name,
            f"{r.images_per_hour:.0f}",
            f"{r.peak_images_per_hour:.0f}",
            duration(r.p50_s),
            duration(r.p95_s),
            duration(r.p99_s),
            f"{r.fallback_share:.0%}",
            f"{r.cache_hit_rate:.0%}",
            f"{r.cost_per_day_usd:.2f}",
            f"{r.cost_per_month_usd:.2f}",
            f"{r.depth.mean:.1f}",
            str(r.depth.max),
        )
    return table
