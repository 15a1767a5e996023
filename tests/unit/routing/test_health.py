from __future__ import annotations

import math
import random

import pytest

from alfred.routing.health import DeploymentHealth
from tests.unit.state.programs import VirtualClock


def test_unknown_deployment_has_no_numbers() -> None:
    snap = DeploymentHealth().snapshot("nobody")
    assert (snap.ewma_ms, snap.p95_ms, snap.error_rate, snap.in_flight, snap.samples) == (
        None,
        None,
        None,
        0,
        0,
    )


def test_ewma_follows_alpha() -> None:
    health = DeploymentHealth(ewma_alpha=0.5, min_samples=1)
    for latency in (100.0, 200.0, 400.0):
        health.record("d", latency, ok=True)
    assert health.ewma_ms("d") == pytest.approx(100 + 0.5 * (200 - 100) + 0.5 * (400 - 150))


def test_p95_is_nearest_rank_over_the_window_and_matches_a_sort() -> None:
    rng = random.Random(7)
    health = DeploymentHealth(window=50, min_samples=5)
    recent: list[float] = []
    for _ in range(500):
        latency = rng.uniform(1, 1000)
        health.record("d", latency, ok=True)
        recent = [*recent, latency][-50:]
        if len(recent) >= 5:
            ordered = sorted(recent)
            assert health.p95_ms("d") == ordered[math.ceil(0.95 * len(ordered)) - 1]


def test_p95_needs_min_samples() -> None:
    health = DeploymentHealth(min_samples=3)
    health.record("d", 10, ok=True)
    health.record("d", 20, ok=True)
    assert health.p95_ms("d") is None
    health.record("d", 30, ok=True)
    assert health.p95_ms("d") == 30


def test_error_rate_and_in_flight() -> None:
    health = DeploymentHealth(min_samples=4, window=4)
    for _ in range(3):
        health.started("d")
    assert health.in_flight("d") == 3
    health.finished("d", 50, ok=True)
    health.finished("d", None, ok=False)  # a refused connection: no latency sample
    health.finished("d", 70, ok=False)
    health.finished("d", 60, ok=True)  # more finishes than starts never go negative
    snap = health.snapshot("d")
    assert snap.in_flight == 0 and snap.error_rate == pytest.approx(0.5) and snap.samples == 4
    health.record("d", 10, ok=True)  # the window of 4 drops the oldest (a success)
    assert health.snapshot("d").error_rate == pytest.approx(0.5)
    health.record("d", 10, ok=True)  # drops the refused connection
    assert health.snapshot("d").error_rate == pytest.approx(0.25)


def test_old_results_age_out_so_a_deployment_reads_unknown_again() -> None:
    clock = VirtualClock()
    health = DeploymentHealth(max_age_s=60, min_samples=1, clock=clock)
    health.record("d", 900, ok=True)
    clock.advance(30_000)
    health.record("d", 100, ok=True)
    assert health.p95_ms("d") == 900
    clock.advance(30_001)
    assert health.p95_ms("d") == 100
    clock.advance(30_000)
    snap = health.snapshot("d")
    assert snap.p95_ms is None and snap.ewma_ms is None and snap.samples == 0
