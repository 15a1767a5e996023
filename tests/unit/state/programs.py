"""Hypothesis strategies for operation programs, shared by the memory and the Redis property tests."""

from __future__ import annotations

from hypothesis import strategies as st

from alfred.state.base import BreakerPolicy, BreakerState

# Buckets: (key, capacity, period in ms). Keys are fixed per program so capacities never change.
BUCKETS = [("a", 5, 1_000), ("b", 60, 60_000), ("c", 1_000, 60_000), ("d", 3, 250)]

bucket_op = st.tuples(
    st.sampled_from(["acquire", "adjust"]),
    st.integers(min_value=0, max_value=20_000),  # ms to advance the clock first
    st.lists(
        st.tuples(st.integers(0, len(BUCKETS) - 1), st.integers(min_value=-50, max_value=400)),
        min_size=1,
        max_size=3,
        unique_by=lambda c: c[0],
    ),
)
bucket_program = st.lists(bucket_op, min_size=1, max_size=60)

_counts = st.integers(1, 6)
_rates = st.sampled_from([0.25, 0.5, 0.9, 1.0])
_thresholds = st.one_of(
    st.tuples(_counts, st.none()), st.tuples(st.none(), _rates), st.tuples(_counts, _rates)
)
policies = st.builds(
    lambda thresholds, **kw: BreakerPolicy(
        failure_threshold=thresholds[0], error_rate_threshold=thresholds[1], **kw
    ),
    _thresholds,
    min_requests=st.integers(1, 8),
    window_s=st.sampled_from([1.2, 6.0, 60.0]),
    buckets=st.sampled_from([1, 2, 3, 4, 6, 12]),
    cooldown_s=st.sampled_from([0.0, 0.5, 3.0]),
    probe_timeout_s=st.sampled_from([0.25, 2.0]),
    history=st.sampled_from([3, 50]),
)

# Time steps: often exactly a cooldown, probe timeout or slot, so boundaries (>= vs >) get hit.
_step_ms = st.one_of(st.sampled_from([0, 100, 250, 500, 1_000, 2_000, 3_000]), st.integers(0, 2_000))
_forces = st.sampled_from([BreakerState.OPEN, BreakerState.CLOSED, None, None])
_allow = st.tuples(st.just("allow"), _step_ms)
# which outstanding permit reports (index modulo how many there are), and whether it succeeded
_result = st.tuples(st.just("result"), _step_ms, st.booleans(), st.integers(0, 7))
_force = st.tuples(st.just("force"), _step_ms, _forces)
# Forcing pins the machine, so it is rare: most programs must run the automatic cycle many times.
breaker_op = st.sampled_from(["allow"] * 36 + ["result"] * 40 + ["force"]).flatmap(
    lambda kind: {"allow": _allow, "result": _result, "force": _force}[kind]
)
breaker_program = st.lists(breaker_op, min_size=20, max_size=120)


class VirtualClock:
    """A hand-driven clock in integer milliseconds, read as float seconds."""

    def __init__(self, start_ms: int = 1_000_000) -> None:
        self.ms = start_ms

    def advance(self, ms: int) -> None:
        self.ms += ms

    def __call__(self) -> float:
        return self.ms / 1000
