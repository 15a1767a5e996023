"""Policies in worker processes: same figures as one process, results in order, failures surface."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from alfred.images.presets import PresetBook
from alfred.simulate import arrivals as arrivals_module
from alfred.simulate.arrivals import generate_arrivals
from alfred.simulate.comparison import load_config, study_images
from alfred.simulate.hardware import HardwareError, HardwareTable, load_hardware
from alfred.simulate.parallel import Tick, WorkerError, can_fork, run_tasks
from alfred.simulate.policies import default_variants
from alfred.simulate.profiles import load_profile

needs_fork = pytest.mark.skipif(not can_fork(), reason="worker processes are forked")


def square_with_ticks(value: int, tick: Tick) -> tuple[int, int]:
    tick(1)
    tick(2)
    return value * value, os.getpid()


@needs_fork
def test_results_come_back_in_task_order_from_other_processes() -> None:
    seen: list[tuple[int, int]] = []
    out = run_tasks(
        list(range(7)),
        square_with_ticks,
        jobs=2,
        order=[6, 5, 4, 3, 2, 1, 0],
        progress=lambda i, done: seen.append((i, done)),
    )
    assert [value for value, _ in out] == [0, 1, 4, 9, 16, 25, 36]
    assert os.getpid() not in {pid for _, pid in out}  # nothing ran here
    assert sorted(seen) == sorted([(i, 1) for i in range(7)] + [(i, 2) for i in range(7)])


def test_one_job_runs_everything_in_this_process() -> None:
    ticks: list[tuple[int, int]] = []
    out = run_tasks([3, 4], square_with_ticks, jobs=1, progress=lambda i, done: ticks.append((i, done)))
    assert out == [(9, os.getpid()), (16, os.getpid())]
    assert ticks == [(0, 1), (0, 2), (1, 1), (1, 2)]


def fail_on_three(value: int, tick: Tick) -> int:
    if value == 3:
        raise HardwareError("hardware table 'x' has no service time for backend 'gpu'")
    return value


class Unpicklable(Exception):
    def __init__(self, a: int, b: int) -> None:  # pickling calls __init__ with one argument: it breaks
        super().__init__(f"{a}/{b}")


def fail_unpicklably(value: int, tick: Tick) -> int:
    if value == 1:
        raise Unpicklable(value, 2)
    return value


def die(value: int, tick: Tick) -> int:
    if value == 1:
        os._exit(3)  # a worker killed mid-task (the OOM killer, a signal) reports nothing
    return value


@needs_fork
def test_a_failing_task_raises_its_own_error_here() -> None:
    with pytest.raises(HardwareError, match="no service time for backend 'gpu'"):
        run_tasks([1, 2, 3, 4], fail_on_three, jobs=2)
    with pytest.raises(RuntimeError, match=r"Unpicklable: 1/2"):
        run_tasks([1, 2], fail_unpicklably, jobs=2)


@needs_fork
def test_a_worker_that_dies_is_an_error_not_a_hang() -> None:
    with pytest.raises(WorkerError, match="exit code 3"):
        run_tasks([0, 1, 2, 3], die, jobs=2)


@needs_fork
def test_the_cache_keys_do_not_depend_on_the_number_of_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arrivals_module, "_KEYS_PER_PROCESS", 100)  # fork even for a quarter of a day
    profile = load_profile("seed")
    assert profile.images is not None
    settings = load_config(Path("examples/images.yaml"))
    model = settings.images.models[0]
    one = generate_arrivals(profile.images, 0.25, model, PresetBook.builtin(), 5, jobs=1)
    three = generate_arrivals(profile.images, 0.25, model, PresetBook.builtin(), 5, jobs=3)
    assert len(one) > 1000 and one.keys == three.keys and one.distinct == three.distinct
    assert one.distinct < len(set(one.wordings))  # repeats worded differently still share a key


@needs_fork
def test_a_comparison_in_processes_has_exactly_the_figures_of_one_process() -> None:
    settings = load_config(Path("examples/images.yaml"))
    profile = load_profile("game-launch")
    assert profile.images is not None
    variants = default_variants(settings.images.router, (5, 20))
    hardware = load_hardware("seed")
    serial = study_images(settings, profile.images, variants, hardware, 0.5, 3, jobs=1)
    forked = study_images(settings, profile.images, variants, hardware, 0.5, 3, jobs=2)
    assert [r.name for r in forked.reports] == [v.name for v in variants]
    assert [r.as_json(series=True) for r in forked.reports] == [
        r.as_json(series=True) for r in serial.reports
    ]
    assert forked.recommendations == serial.recommendations and forked.requests == serial.requests


@needs_fork
def test_a_policy_that_cannot_be_simulated_fails_the_comparison_with_its_message() -> None:
    settings = load_config(Path("examples/images.yaml"))
    profile = load_profile("seed")
    assert profile.images is not None
    no_spaces = HardwareTable.model_validate(
        {"name": "gpu-only", "entries": [{"backend": "replicate", "seconds": {"dist": "fixed", "value": 5}}]}
    )
    variants = default_variants(settings.images.router, (5,))
    with pytest.raises(HardwareError, match="has no service time for backend 'space-1'"):
        study_images(settings, profile.images, variants, no_spaces, 0.05, 1, jobs=2)
