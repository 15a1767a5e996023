from __future__ import annotations

from decimal import Decimal

import pytest

from alfred.images.jobs import Route
from alfred.images.queue import QueueDepth
from alfred.images.router import QueueDepthRouter, RouteRequest, SpendWindow
from alfred.images.settings import RouterSettings
from tests.unit.images.fakes import VirtualClock


def request(waiting: int, in_flight: int = 0, **kw: object) -> RouteRequest:
    return RouteRequest(depth=QueueDepth(waiting, in_flight), primary_slots=2, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("waiting", "in_flight", "route", "code"),
    [
        (0, 0, Route.PRIMARY, "below_threshold"),
        (47, 2, Route.PRIMARY, "below_threshold"),
        (48, 2, Route.FALLBACK, "at_threshold"),
        (500, 2, Route.FALLBACK, "at_threshold"),
    ],
)
def test_seed_rule_depth_below_threshold_goes_primary(
    waiting: int, in_flight: int, route: Route, code: str
) -> None:
    router = QueueDepthRouter(threshold=50, clock=VirtualClock())
    decision = router.decide(request(waiting, in_flight))
    assert (decision.route, decision.code) == (route, code)
    assert str(waiting + in_flight) in decision.reason and "50" in decision.reason
    assert router.decisions[(route.value, code)] == 1


def test_defaults_come_from_settings() -> None:
    router = QueueDepthRouter.from_settings(RouterSettings(), VirtualClock())
    assert (router.policy, router.threshold, router.mean_service_time_s) == ("queue-depth", 50, 30.0)


def test_predicted_wait_is_depth_times_mean_over_free_slots() -> None:
    router = QueueDepthRouter("predicted-wait", service_time_prior_s=20.0, clock=VirtualClock())
    # one slot free, 3 waiting: 3 * 20 / 1 = 60 s before it starts
    assert router.predicted_wait_s(QueueDepth(3, 1), 2) == pytest.approx(60.0)
    # both free: 3 * 20 / 2
    assert router.predicted_wait_s(QueueDepth(3, 0), 2) == pytest.approx(30.0)
    # all busy: it waits for a slot too, (3 + 1) * 20 / 2
    assert router.predicted_wait_s(QueueDepth(3, 2), 2) == pytest.approx(40.0)


def test_predicted_wait_policy_compares_start_plus_service_to_the_deadline() -> None:
    router = QueueDepthRouter("predicted-wait", service_time_prior_s=20.0, clock=VirtualClock())
    on_time = router.decide(request(1, 0, deadline_s=30.0))  # 10 s wait + 20 s service = 30 ≤ 30
    late = router.decide(request(2, 0, deadline_s=30.0))  # 20 + 20 > 30
    assert (on_time.route, on_time.code, on_time.predicted_wait_s) == (
        Route.PRIMARY,
        "predicted_wait_ok",
        10.0,
    )
    assert (late.route, late.code) == (Route.FALLBACK, "predicted_wait_late")
    assert "deadline 30s" in late.reason
    # no deadline on the request: the configured default applies
    assert router.decide(request(3, 0)).route is Route.PRIMARY  # 30 + 20 ≤ 60
    assert router.decide(request(5, 0)).route is Route.FALLBACK  # 50 + 20 > 60


def test_service_time_is_a_running_mean_of_observations() -> None:
    router = QueueDepthRouter("predicted-wait", service_time_prior_s=30.0, service_time_alpha=0.5)
    router.observe_service_time(10.0)
    router.observe_service_time(10.0)
    assert router.mean_service_time_s == pytest.approx(15.0)  # 30 → 20 → 15


@pytest.mark.parametrize(
    ("policy", "route"), [("always-primary", Route.PRIMARY), ("always-fallback", Route.FALLBACK)]
)
def test_fixed_policies(policy: str, route: Route) -> None:
    router = QueueDepthRouter(policy, clock=VirtualClock())  # type: ignore[arg-type]
    assert router.decide(request(0)).route is route
    assert router.decide(request(10_000)).route is route


def test_a_missing_route_means_the_other_one() -> None:
    router = QueueDepthRouter(threshold=0, clock=VirtualClock())
    assert router.decide(request(100, has_fallback=False)).code == "no_fallback"
    assert router.decide(request(0, has_primary=False)).route is Route.FALLBACK


def test_spend_cap_keeps_jobs_on_primary_for_the_rest_of_the_hour() -> None:
    clock = VirtualClock()
    router = QueueDepthRouter(threshold=1, spend_cap_per_hour=Decimal("0.01"), clock=clock)
    cost = Decimal("0.0023")
    routes = []
    for _ in range(6):
        decision = router.decide(request(5, fallback_cost=cost))
        routes.append(decision.code)
        if decision.route is Route.FALLBACK:
            router.record_fallback_spend(cost)
        clock.advance(60)
    # 4 * 0.0023 = 0.0092; a fifth would be 0.0115 > 0.01
    assert routes == ["at_threshold"] * 4 + ["spend_cap"] * 2
    assert router.fallback_spent_last_hour() == Decimal("0.0092")
    clock.advance(3600)  # the spend has left the window
    assert router.fallback_spent_last_hour() == 0
    assert router.decide(request(5, fallback_cost=cost)).route is Route.FALLBACK


def test_a_shared_spend_figure_overrides_the_routers_own() -> None:
    router = QueueDepthRouter(threshold=0, spend_cap_per_hour=Decimal("1"), clock=VirtualClock())
    assert (
        router.decide(request(0, fallback_cost=Decimal("0.1"), fallback_spent_last_hour=Decimal("0.95"))).code
        == "spend_cap"
    )
    assert (
        router.decide(request(0, fallback_cost=Decimal("0.1"), fallback_spent_last_hour=Decimal("0.5"))).code
        == "at_threshold"
    )


def test_spend_window_rolls_minute_by_minute() -> None:
    clock = VirtualClock(0.0)
    window = SpendWindow(clock)
    window.add(Decimal(1))
    clock.advance(1800)
    window.add(Decimal(2))
    assert window.total() == 3
    clock.advance(1800)  # the first minute's spend is an hour old now
    assert window.total() == 2
    clock.advance(1800)
    assert window.total() == 0


def test_the_reason_is_written_when_read_from_the_figures_at_decision_time() -> None:
    clock = VirtualClock()
    router = QueueDepthRouter("predicted-wait", service_time_prior_s=20.0, clock=clock)
    decided_at = clock()
    late = router.decide(request(2, 1, deadline_s=30.0))  # 2 * 20 / 1 free slot = 40 s wait
    router.observe_service_time(1000.0)  # the mean moves on; the words keep what the router saw
    clock.advance(60)
    assert (
        late.reason == "predicted wait 40.0s + service 20.0s (2 waiting, 1 running, 2 slots) > deadline 30s"
    )
    assert late.decided_at == decided_at
    by_depth = QueueDepthRouter(threshold=50, clock=clock).decide(request(47, 2))
    assert by_depth.reason == "primary queue depth 49 < threshold 50"
    assert (
        QueueDepthRouter("always-fallback", clock=clock).decide(request(0)).reason == "policy always-fallback"
    )


def test_a_capped_decision_says_what_it_would_have_done_and_why_not() -> None:
    router = QueueDepthRouter(threshold=1, spend_cap_per_hour=Decimal("0.01"), clock=VirtualClock())
    capped = router.decide(
        request(5, fallback_cost=Decimal("0.0023"), fallback_spent_last_hour=Decimal("0.009"))
    )
    assert (capped.route, capped.code) == (Route.PRIMARY, "spend_cap")
    assert capped.reason == (
        "primary queue depth 5 >= threshold 1; but fallback spend $0.009 in the last hour would pass "
        "the cap $0.01/h, so it waits on primary"
    )
    assert router.decisions == {("primary", "spend_cap"): 1}
