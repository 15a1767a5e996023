"""The simulator against the real image pipeline: same requests, same service times, time compressed.

The real run is ``build_image_service`` as the gateway builds it (in-memory queue and job store,
embedded workers, result cache, the real router), fed the simulator's own request stream at
``SCALE`` real seconds per simulated second, with backends that sleep each job's service time
(drawn from the same distributions and seeds, in the order jobs start, as the simulator does).
The simulator's predicted route shares and mean primary queue depth must be within 10% of what the
real pipeline did.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from alfred.images.build import build_image_service
from alfred.images.jobs import ImageJob, Route
from alfred.images.presets import PresetBook
from alfred.images.settings import BackendSettings, ImageSettings
from alfred.schema.images import GeneratedImage, GenerationSpec
from alfred.simulate.arrivals import ImageArrivals, generate_arrivals
from alfred.simulate.comparison import run_policy
from alfred.simulate.distributions import Sampler
from alfred.simulate.hardware import HardwareTable
from alfred.simulate.image_model import CACHE, FALLBACK, PRIMARY
from alfred.simulate.policies import PolicyVariant
from alfred.simulate.profiles import ImageLoad
from alfred.state import memory_backend
from tests.unit.images.fakes import MemoryBlobStore, png_bytes

SCALE = 0.008  # real seconds per simulated second: an hour runs in under 30 s
SEED = 17
HOURS = 1.0
SAMPLE_S = 10.0  # simulated seconds between queue depth samples

HARDWARE = HardwareTable.model_validate(
    {
        "entries": [
            {"backend": "space", "seconds": {"dist": "uniform", "low": 20, "high": 60}},
            {"backend": "replicate", "seconds": {"dist": "lognormal", "median": 10, "p95": 30}},
        ]
    }
)
# a peak in the middle of the hour: the queue builds past the threshold, spills, then drains
LOAD = ImageLoad.model_validate(
    {
        "curve": {"points": {0: 150, 0.5: 700, 1: 150, 24: 150}},
        "repeat_share": 0.3,
        "surface_variation": 0.5,
        "hot_set": 200,
    }
)


def settings_for(router: dict[str, Any]) -> ImageSettings:
    return ImageSettings.model_validate(
        {
            "backends": {
                "space-1": {"kind": "space"},
                "space-2": {"kind": "space"},
                "replicate": {"kind": "replicate", "slots": 8},
            },
            "models": [
                {
                    "name": "sdxl",
                    "primary": ["space-1", "space-2"],
                    "fallback": ["replicate"],
                    "size": "512x512",
                    "steps": 4,
                }
            ],
            "router": router,
            "workers": {"heartbeat_s": 5.0},
        }
    )


@dataclass
class SleepingBackend:
    """Sleeps the job's service time (compressed) and returns a real PNG; all instances of a kind
    share one draw sequence, so the i-th job to start gets the i-th draw, as in the simulator."""

    name: str
    kind: str
    sample: Sampler
    rng: random.Random

    async def generate(self, spec: GenerationSpec, progress: Any) -> list[GeneratedImage]:
        seconds = self.sample(self.rng) * spec.n
        await asyncio.sleep(seconds * SCALE)
        return [GeneratedImage(png_bytes(8, 8, (spec.seed % 256, 0, 0)))]

    async def cancel(self) -> None:
        return None

    async def close(self) -> None:
        return None


def factory(kind: str, seed: int) -> Any:
    rng = random.Random(seed)  # the simulator's pool uses random.Random(seed) too
    sample = HARDWARE.service_time("", kind, "sdxl", "512x512", 4).sampler()

    def make(name: str, settings: BackendSettings) -> SleepingBackend:
        return SleepingBackend(name, settings.kind, sample, rng)

    return make


@dataclass
class Observed:
    routes: dict[int, int]  # route code → requests
    depth_samples: list[tuple[float, int]]  # (simulated seconds, primary depth)


async def real_run(settings: ImageSettings, arrivals: ImageArrivals, variant_seed: int) -> Observed:
    runtime = build_image_service(
        settings,
        blobs=MemoryBlobStore(),
        state=memory_backend(),
        backend_factories={
            "space": factory("space", variant_seed),
            "replicate": factory("replicate", variant_seed + 1),
        },
        consumer="validation",
    )
    service = runtime.service
    primary = service.routes["sdxl"].primary
    await runtime.start()
    samples: list[tuple[float, int]] = []
    start = time.monotonic()

    async def sample_depth() -> None:
        tick = 0
        while True:
            target = start + tick * SAMPLE_S * SCALE
            await asyncio.sleep(max(0.0, target - time.monotonic()))
            samples.append((tick * SAMPLE_S, (await primary.depth()).total))
            tick += 1

    sampler = asyncio.ensure_future(sample_depth())
    jobs: list[ImageJob] = []
    try:
        for index, at in enumerate(arrivals.times):
            await asyncio.sleep(
                max(0.0, start + at * SCALE - time.monotonic())
            )  # pace arrivals, as players do
            jobs.append(await service.submit(arrivals.tenant, arrivals.request(index)))
        horizon_real = start + HOURS * 3600 * SCALE
        await asyncio.sleep(max(0.0, horizon_real - time.monotonic()))
        sampler.cancel()
        deadline = time.monotonic() + 60
        while True:  # every job ends (poll with a deadline)
            current = [await service.get(arrivals.tenant, job.id) for job in jobs]
            if all(job.terminal for job in current):
                break
            assert time.monotonic() < deadline, "jobs left unfinished"
            await asyncio.sleep(0.05)
    finally:
        sampler.cancel()
        await runtime.stop(grace_s=1.0)
    assert all(job.state.value == "succeeded" for job in current)
    codes = {Route.CACHE: CACHE, Route.PRIMARY: PRIMARY, Route.FALLBACK: FALLBACK}
    routes = {CACHE: 0, PRIMARY: 0, FALLBACK: 0}
    for job in current:
        assert job.route is not None
        routes[codes[job.route]] += 1
    return Observed(routes, [(t, d) for t, d in samples if t <= HOURS * 3600])


def within(predicted: float, actual: float, tolerance: float = 0.10) -> bool:
    return abs(predicted - actual) <= tolerance * abs(actual)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("router", "real_router"),
    [
        ({"policy": "queue-depth", "threshold": 8}, {"policy": "queue-depth", "threshold": 8}),
        (
            {"policy": "predicted-wait", "default_deadline_s": 120, "service_time_prior_s": 40},
            # the real router lives in real seconds: its deadline and prior are compressed alike
            {
                "policy": "predicted-wait",
                "default_deadline_s": 120 * SCALE,
                "service_time_prior_s": 40 * SCALE,
            },
        ),
    ],
    ids=["queue-depth", "predicted-wait"],
)
async def test_simulator_predicts_the_real_pipeline_within_ten_percent(
    router: dict[str, Any], real_router: dict[str, Any]
) -> None:
    simulated_settings = settings_for(router)
    model = simulated_settings.models[0]
    arrivals = generate_arrivals(LOAD, HOURS / 24, model, PresetBook.builtin(), SEED)
    variant = PolicyVariant(router["policy"], simulated_settings.router, configured=True)
    run = await run_policy(simulated_settings, arrivals, variant, HARDWARE, HOURS / 24, seed=SEED)
    observed = await real_run(settings_for(real_router), arrivals, SEED)

    requests = len(arrivals)
    predicted_routes = {
        code: int(np.count_nonzero(np.array(run.routes) == code)) for code in (CACHE, PRIMARY, FALLBACK)
    }
    predicted_fallback = predicted_routes[FALLBACK] / (predicted_routes[PRIMARY] + predicted_routes[FALLBACK])
    actual_fallback = observed.routes[FALLBACK] / (observed.routes[PRIMARY] + observed.routes[FALLBACK])
    times = np.array(run.depth_times)
    values = np.array(run.depth_values)
    at = np.array([t for t, _ in observed.depth_samples])
    predicted_depth = float(values[np.searchsorted(times, at, side="right") - 1].mean())
    actual_depth = float(np.mean([d for _, d in observed.depth_samples]))
    summary = (
        f"\n{router['policy']}: {requests} requests; fallback share predicted {predicted_fallback:.3f} "
        f"real {actual_fallback:.3f}; cache share predicted {predicted_routes[CACHE] / requests:.3f} "
        f"real {observed.routes[CACHE] / requests:.3f}; mean primary depth predicted {predicted_depth:.2f} "
        f"real {actual_depth:.2f} ({len(at)} samples)"
    )
    print(summary)
    # the scenario must exercise both routes and the cache, or the comparison proves little
    assert 0.15 < actual_fallback < 0.85 and observed.routes[CACHE] > 0.1 * requests and actual_depth > 2, (
        summary
    )
    assert within(predicted_fallback, actual_fallback), summary
    assert within(predicted_routes[CACHE] / requests, observed.routes[CACHE] / requests), summary
    assert within(predicted_depth, actual_depth), summary
