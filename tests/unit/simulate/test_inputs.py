"""Distributions, hardware tables, profiles and the request stream."""

from __future__ import annotations

import random
import statistics
from pathlib import Path

import numpy as np
import pytest

from alfred.images.presets import PresetBook
from alfred.images.settings import ImageModelSettings
from alfred.schema.images import ImageRequest
from alfred.simulate.arrivals import ImageArrivals, arrival_times, generate_arrivals, rate_at
from alfred.simulate.distributions import Empirical, LogNormal, Uniform
from alfred.simulate.hardware import HardwareError, HardwareTable, builtin_tables, load_hardware
from alfred.simulate.profiles import DayCurve, ImageLoad, ProfileError, load_profile

MODEL = ImageModelSettings(name="sdxl", primary=["space"], size="1024x1024", steps=30)


def test_lognormal_sampler_has_the_median_and_p95_it_was_given() -> None:
    sample = LogNormal(median=10, p95=25).sampler()
    rng = random.Random(3)
    values = sorted(sample(rng) for _ in range(40_000))
    assert statistics.median(values) == pytest.approx(10, rel=0.03)
    assert values[int(0.95 * len(values))] == pytest.approx(25, rel=0.04)
    assert LogNormal(median=10, p95=25).mean == pytest.approx(statistics.fmean(values), rel=0.03)


def test_uniform_and_empirical_stay_in_their_range() -> None:
    rng = random.Random(1)
    uniform = Uniform(low=20, high=60).sampler()
    drawn = [uniform(rng) for _ in range(5000)]
    assert 20 <= min(drawn) < 22 and 58 < max(drawn) <= 60
    empirical = Empirical(samples=[1.5, 2.5]).sampler()
    assert {empirical(rng) for _ in range(200)} == {1.5, 2.5}
    with pytest.raises(ValueError, match="high must be at least low"):
        Uniform(low=5, high=1)


def test_hardware_table_picks_the_most_specific_entry() -> None:
    table = HardwareTable.model_validate(
        {
            "hourly_cost_usd": {"space": "0.40", "space-2": "1.00"},
            "entries": [
                {"backend": "*", "seconds": {"dist": "fixed", "value": 99}},
                {"backend": "space", "seconds": {"dist": "fixed", "value": 30}},
                {"backend": "space", "size": "512x512", "seconds": {"dist": "fixed", "value": 8}},
                {"backend": "space-2", "seconds": {"dist": "fixed", "value": 12}},
            ],
        }
    )
    assert table.service_time("space-1", "space", "sdxl", "1024x1024", 30).mean == 30
    assert table.service_time("space-1", "space", "sdxl", "512x512", 30).mean == 8
    assert table.service_time("space-2", "space", "sdxl", "512x512", 30).mean == 12  # the name beats the kind
    assert table.service_time("r", "replicate", "sdxl", "1024x1024", 30).mean == 99
    assert str(table.hourly_cost("space-1", "space")) == "0.40"
    assert str(table.hourly_cost("space-2", "space")) == "1.00"
    strict = HardwareTable.model_validate(
        {"entries": [{"backend": "space", "seconds": {"dist": "fixed", "value": 1}}]}
    )
    with pytest.raises(HardwareError, match="no service time for backend 'replicate'"):
        strict.service_time("replicate", "replicate", "sdxl", "1024x1024", 30)


def test_builtin_hardware_tables_cover_spaces_and_replicate() -> None:
    names = builtin_tables()
    assert {"seed", "cpu-basic", "t4-small", "a10g-small", "sd-turbo-t4"} <= set(names)
    for name in names:
        table = load_hardware(name)
        assert table.sources, f"{name} must say where its figures come from"
        table.service_time("space-1", "space", "sdxl", "1024x1024", 30)
        table.service_time("replicate", "replicate", "stability-ai/sdxl", "1024x1024", 30)
    assert load_hardware("cpu-basic").service_time("s", "space", "sdxl", "1024x1024", 30).mean > 30 * 60
    with pytest.raises(HardwareError, match="unknown hardware table 'gpu9000'"):
        load_hardware("gpu9000")


def test_day_curve_interpolates_and_wraps_at_midnight() -> None:
    curve = DayCurve(points={6: 100, 18: 300}, weekdays=[1, 2, 1, 1, 1, 1, 1])
    at = np.array([6, 12, 18, 0, 24 + 12]) * 3600.0
    assert rate_at(curve, at).tolist() == pytest.approx([100, 200, 300, 200, 400])


def test_arrivals_follow_the_curve_and_bursts() -> None:
    load = ImageLoad.model_validate(
        {
            "curve": {"points": {0: 360, 24: 360}},
            "bursts": [{"day": 0, "start_hour": 10, "hours": 2, "extra_per_hour": 3600}],
        }
    )
    times = arrival_times(load, 1.0, np.random.default_rng(0))
    assert np.all(np.diff(times) >= 0) and times[0] >= 0 and times[-1] < 86400
    expected = 360 * 24 + 3600 * 2
    assert abs(len(times) - expected) < 4 * expected**0.5
    in_burst = np.count_nonzero((times >= 10 * 3600) & (times < 12 * 3600))
    assert abs(in_burst - (360 + 3600) * 2) < 4 * ((360 + 3600) * 2) ** 0.5


def test_repeats_written_differently_share_one_cache_key() -> None:
    load = ImageLoad.model_validate(
        {
            "curve": {"points": {0: 2000}},
            "repeat_share": 0.6,
            "surface_variation": 1.0,
            "preset_share": 0.5,
            "hot_set": 50,
        }
    )
    arrivals = generate_arrivals(load, 0.25, MODEL, PresetBook.builtin(), seed=4)
    wordings = {(item, variant) for item, variant in arrivals.wordings}
    items = {item for item, _ in wordings}
    assert len(wordings) > len(items) * 1.5, "repeats must come in other wordings"
    # the pipeline's canonicalisation folds every wording of an item into one key, and no two items share one
    assert arrivals.distinct == len(items)
    by_item: dict[int, set[str]] = {}
    for (item, _), key in zip(arrivals.wordings, arrivals.keys, strict=True):
        by_item.setdefault(item, set()).add(key)
    assert all(len(keys) == 1 for keys in by_item.values())
    seen: set[int] = set()
    repeats = 0
    for item, _ in arrivals.wordings:
        repeats += item in seen
        seen.add(item)
    assert repeats / len(arrivals) == pytest.approx(0.6, abs=0.03)
    # a varied repeat is written differently from the item's first request (always plain)
    varied = next(i for i, (_, variant) in enumerate(arrivals.wordings) if variant)
    first = arrivals.wordings.index((arrivals.wordings[varied][0], 0))
    assert arrivals.request(varied) != arrivals.request(first)
    assert arrivals.keys[varied] == arrivals.keys[first]


def test_same_seed_same_stream() -> None:
    load = ImageLoad.model_validate({"curve": {"points": {0: 500}}, "repeat_share": 0.5})
    a = generate_arrivals(load, 0.1, MODEL, PresetBook.builtin(), seed=9)
    b = generate_arrivals(load, 0.1, MODEL, PresetBook.builtin(), seed=9)
    c = generate_arrivals(load, 0.1, MODEL, PresetBook.builtin(), seed=10)
    assert a.times == b.times and a.keys == b.keys
    assert a.times != c.times


def test_explicit_requests_keep_their_keys_apart_by_tenant_free_canonical_form() -> None:
    arrivals = ImageArrivals.of_requests(
        MODEL,
        PresetBook.builtin(),
        [0.0, 1.0, 2.0],
        [
            ImageRequest(prompt="A  Fire Sword"),
            ImageRequest(prompt="a fire sword"),
            ImageRequest(prompt="an ice axe"),
        ],
    )
    assert arrivals.keys[0] == arrivals.keys[1] != arrivals.keys[2]
    assert arrivals.distinct == 2


def test_profiles_ship_and_validate(tmp_path: Path) -> None:
    for name in ("seed", "game-launch", "chat"):
        profile = load_profile(name)
        assert profile.name == name
    seed = load_profile("seed")
    assert seed.images is not None and seed.images.repeat_share == 0.6
    points = seed.images.curve.points
    assert min(points.values()) >= 200 and max(points.values()) >= 1000
    launch = load_profile("game-launch")
    assert launch.images is not None and launch.images.bursts
    bad = tmp_path / "bad.yaml"
    bad.write_text("images:\n  curve: {points: {0: 10}}\n  repeat_share: 1.5\n")
    with pytest.raises(ProfileError, match=r"bad.yaml: images.repeat_share"):
        load_profile(str(bad))
    with pytest.raises(ProfileError, match="cannot read the profile"):
        load_profile("no-such-profile")
