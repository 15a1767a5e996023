"""The simulated image pipeline against outcomes worked out by hand (fixed service times)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from alfred.images.presets import PresetBook
from alfred.images.settings import ImageSettings
from alfred.schema.images import ImageRequest
from alfred.simulate.arrivals import ImageArrivals
from alfred.simulate.engine import VirtualClock
from alfred.simulate.hardware import HardwareTable
from alfred.simulate.image_model import CACHE, FALLBACK, PRIMARY, ImagePipelineSimulation, ImageRun
from alfred.simulate.policies import PolicyVariant
from alfred.simulate.report import depth_series, recommend, summarise

HARDWARE = HardwareTable.model_validate(
    {
        "hourly_cost_usd": {"space": "0.40"},
        "entries": [
            {"backend": "space", "seconds": {"dist": "fixed", "value": 10}},
            {"backend": "replicate", "seconds": {"dist": "fixed", "value": 3}},
        ],
    }
)


def image_settings(**router: Any) -> ImageSettings:
    return ImageSettings.model_validate(
        {
            "backends": {
                "space-1": {"kind": "space"},
                "space-2": {"kind": "space"},
                "replicate": {"kind": "replicate", "slots": 4},
            },
            "models": [
                {
                    "name": "sdxl",
                    "primary": ["space-1", "space-2"],
                    "fallback": ["replicate"],
                    "prices": {"primary": "0", "fallback": "0.0023"},
                }
            ],
            "router": router,
        }
    )


async def simulate(
    settings: ImageSettings, times: list[float], requests: list[ImageRequest], horizon_s: float = 3600.0
) -> tuple[ImageRun, ImagePipelineSimulation, ImageArrivals]:
    model = settings.models[0]
    arrivals = ImageArrivals.of_requests(model, PresetBook.builtin(), times, requests)
    clock = VirtualClock()
    variant = PolicyVariant("under test", settings.router, configured=True)
    simulation = ImagePipelineSimulation(settings, model, variant.router(clock), clock, HARDWARE)
    run = await simulation.run(arrivals, horizon_s)
    return run, simulation, arrivals


def by_arrival(run: ImageRun) -> list[tuple[int, float]]:
    """(route, wait) per request, in arrival order."""
    out = sorted(zip(run.served, run.routes, run.waits, strict=True))
    return [(route, wait) for _, route, wait in out]


def prompts(count: int) -> list[ImageRequest]:
    return [ImageRequest(prompt=f"weapon {i}") for i in range(count)]


async def test_depth_threshold_spills_to_fallback_and_waits_add_up() -> None:
    run, simulation, _ = await simulate(image_settings(threshold=3), [0.0] * 6, prompts(6))
    # depth counts waiting + running: the 4th request sees 3 and goes to the fallback
    assert by_arrival(run) == [
        (PRIMARY, 10.0),
        (PRIMARY, 10.0),
        (PRIMARY, 20.0),
        (FALLBACK, 3.0),
        (FALLBACK, 3.0),
        (FALLBACK, 3.0),
    ]
    assert run.decisions == {"primary:below_threshold": 3, "fallback:at_threshold": 3}
    assert run.spend == {"primary": Decimal(0), "fallback": Decimal("0.0069")}
    assert run.hardware_cost == Decimal("0.80")  # two $0.40 slots for an hour
    assert max(run.depth_values) == 3 and run.depth_values[-1] == 0
    assert simulation.router.mean_service_time_s < 30.0  # the EWMA learnt from the 10 s jobs


async def test_cache_answers_repeats_once_the_first_is_done_whatever_the_wording() -> None:
    requests = [
        ImageRequest(prompt="a fire sword"),
        ImageRequest(prompt="A fire sword"),  # arrives while the first renders: a miss
        ImageRequest(prompt="a fire sword"),
        ImageRequest(prompt="  A   FIRE sword "),
    ]
    run, simulation, _ = await simulate(image_settings(), [0.0, 5.0, 30.0, 40.0], requests)
    assert by_arrival(run) == [(PRIMARY, 10.0), (PRIMARY, 10.0), (CACHE, 0.0), (CACHE, 0.0)]
    assert run.cache_hit_rate == 0.5
    assert simulation.cache is not None and simulation.cache.stats.hits_l1 == 2


async def test_predicted_wait_sends_late_jobs_to_fallback() -> None:
    settings = image_settings(policy="predicted-wait", default_deadline_s=25, service_time_prior_s=10)
    run, _, _ = await simulate(settings, [0.0] * 7, prompts(7))
    # predicted finish: 10, 10, 15, 20, 25 (all <= 25) then 30 > 25
    assert [route for route, _ in by_arrival(run)] == [PRIMARY] * 5 + [FALLBACK] * 2
    assert [wait for _, wait in by_arrival(run)][:5] == [10.0, 10.0, 20.0, 20.0, 30.0]


async def test_spend_cap_keeps_jobs_on_primary_once_the_hour_is_spent() -> None:
    settings = image_settings(policy="always-fallback", fallback_spend_cap_per_hour="0.005")
    run, _, _ = await simulate(settings, [0.0, 10.0, 20.0, 30.0], prompts(4))
    assert [route for route, _ in by_arrival(run)] == [FALLBACK, FALLBACK, PRIMARY, PRIMARY]
    assert run.decisions == {"fallback:policy": 2, "primary:spend_cap": 2}


async def test_more_images_take_longer_and_cost_more() -> None:
    settings = image_settings(policy="always-fallback")
    run, _, _ = await simulate(settings, [0.0], [ImageRequest(prompt="three swords", n=3)])
    assert by_arrival(run) == [(FALLBACK, 9.0)]
    assert run.images["fallback"] == 3 and run.spend["fallback"] == Decimal("0.0069")


async def test_a_backlog_drains_after_the_horizon_and_counts_in_full() -> None:
    settings = image_settings(policy="always-primary")
    run, _, arrivals = await simulate(settings, [0.0] * 10, prompts(10), horizon_s=30.0)
    assert sorted(run.waits) == [10.0, 10.0, 20.0, 20.0, 30.0, 30.0, 40.0, 40.0, 50.0, 50.0]
    variant = PolicyVariant("always-primary", settings.router, configured=True)
    report = summarise(variant, run, arrivals.times, arrivals.n, 30.0 / 86400)
    assert report.images == 10 and report.depth.at_end == 4  # 4 still queued at 30 s
    assert report.images_per_hour == pytest.approx(6 / (30 / 3600))  # 6 delivered within the horizon
    assert report.max_s == 50.0 and report.fallback_share == 0.0
    assert report.cost_breakdown_usd["primary_hardware"] == Decimal("0.40") * 2 * Decimal(repr(30 / 3600))


def test_depth_series_is_time_weighted_and_keeps_each_interval_max() -> None:
    run = ImageRun(horizon_s=40.0)
    for at, depth in ((0.0, 0), (0.0, 1), (5.0, 2), (10.0, 1), (20.0, 0)):
        run.depth_times.append(at)
        run.depth_values.append(depth)
    series = depth_series(run, points=4)
    assert series.maxima == [2, 1, 0, 0]
    assert series.mean == pytest.approx((1 * 5 + 2 * 5 + 1 * 10) / 40)
    assert series.max == 2 and series.at_end == 0


async def test_summary_and_recommendation() -> None:
    settings = image_settings(threshold=3)
    run, _, arrivals = await simulate(settings, [0.0] * 6, prompts(6), horizon_s=86400.0)
    base = summarise(
        PolicyVariant("queue-depth:3", settings.router, configured=True), run, arrivals.times, arrivals.n, 1.0
    )
    assert base.fallback_share == 0.5 and base.route_share == {"cache": 0.0, "primary": 0.5, "fallback": 0.5}
    assert base.p50_s == pytest.approx(6.5) and base.max_s == 20.0
    assert base.cost_per_day_usd == Decimal("0.0069") + Decimal("0.40") * 2 * 24
    assert base.cost_per_month_usd == base.cost_per_day_usd * 30
    json_ = base.as_json(series=False)
    assert {"name", "images_per_hour", "p95_s", "fallback_share", "cost_per_month_usd"} <= set(json_)

    def variant(name: str, p95: float, cost: str) -> Any:
        return dataclasses.replace(
            base, name=name, configured=False, p95_s=p95, cost_per_month_usd=Decimal(cost)
        )

    seed = dataclasses.replace(base, p95_s=900.0, cost_per_month_usd=Decimal("56"))
    faster_same_cost = variant("faster", 300.0, "55")
    fastest_dearer = variant("fastest", 20.0, "280")
    cheaper_slower = variant("cheaper", 950.0, "10")
    cheaper_no_slower = variant("thrifty", 900.0, "40")
    recs = recommend([seed, faster_same_cost, fastest_dearer, cheaper_slower, cheaper_no_slower])
    assert [r.name for r in recs] == ["faster", "thrifty"]
    assert recommend([seed, fastest_dearer, cheaper_slower]) == []
