"""The event core's collector pause: safe only because a run makes no reference cycles, checked here."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

from alfred.simulate.comparison import build_arrivals, load_config, run_policy
from alfred.simulate.engine import collector_paused
from alfred.simulate.hardware import load_hardware
from alfred.simulate.policies import default_variants
from alfred.simulate.profiles import load_profile


def test_the_collector_is_off_inside_and_as_it_was_after() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()


def test_a_run_leaves_no_cycles_for_the_paused_collector() -> None:
    settings = load_config(Path("examples/images.yaml"))
    profile = load_profile("seed")
    assert profile.images is not None
    hardware = load_hardware(profile.hardware)
    arrivals = build_arrivals(settings.images, profile.images, 0.25, profile.seed)
    # a queue-depth rule and always-primary, whose backlog outlives the horizon
    variants = [v for v in default_variants(settings.images.router, (5,)) if v.name != "always-fallback"]
    gc.collect()
    with collector_paused():
        for variant in variants:
            run = asyncio.run(run_policy(settings.images, arrivals, variant, hardware, 0.25))
            assert len(run.served) == len(arrivals)
        del run
        # Everything the runs dropped, reference counting already freed: the collector finds none of
        # the simulation's objects in cycles. (Other tests' threads may leave garbage of their own
        # meanwhile, which is why this looks at what the garbage is rather than counting it.)
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            gc.collect()
            ours = [o for o in gc.garbage if type(o).__module__.startswith("alfred.")]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
        assert ours == []
