"""GatewayMetrics: what each recording method exposes, label bounds, and the exposition formats."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from alfred.observability.labels import BoundedLabel, fixed, status_label
from alfred.observability.metrics import GatewayMetrics
from alfred.observability.settings import MetricsSettings

DEPLOYMENTS = [("gpt", "openai", "gpt-4o-mini"), ("claude", "anthropic", "claude-3-5-haiku")]


def make_metrics(**kwargs) -> GatewayMetrics:
    return GatewayMetrics(groups=["gpt", "claude"], deployments=DEPLOYMENTS, **kwargs)


def samples(metrics: GatewayMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, _ = metrics.render()
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(metrics: GatewayMetrics, name: str, **labels: str) -> float:
    found = samples(metrics).get((name, tuple(sorted(labels.items()))))
    assert found is not None, f"no sample {name}{labels}"
    return found


def record(metrics: GatewayMetrics, labels, **overrides) -> None:
    kwargs = dict(total_s=0.2, overhead_s=0.0004, upstream_s=0.1996, ttft_s=None, tokens_in=10, tokens_out=20,
                  cost_usd=0.0015)  # fmt: skip
    kwargs.update(overrides)
    metrics.request(labels, **kwargs)


def test_request_is_counted_with_its_latency_split_tokens_and_cost() -> None:
    m = make_metrics()
    labels = ("chat", "gpt", "openai", "gpt-4o-mini", 200, None, "team-a")
    record(m, labels)
    record(m, labels, ttft_s=0.05, tokens_out=5, cost_usd=0.0005)
    deployment = "gpt/openai/gpt-4o-mini"
    assert value(m, "alfred_requests_total", endpoint="chat", model_group="gpt", deployment=deployment,
                 provider="openai", status="200", cache="none") == 2  # fmt: skip
    assert value(m, "alfred_tokens_total", model_group="gpt", deployment=deployment, direction="in") == 20
    assert value(m, "alfred_tokens_total", model_group="gpt", deployment=deployment, direction="out") == 25
    assert value(m, "alfred_cost_usd_total", model_group="gpt", team="team-a") == pytest.approx(0.002)
    # 0.0004 s of overhead lands in the 0.0005 bucket, not the 0.00025 one
    assert (
        value(m, "alfred_gateway_overhead_seconds_bucket", endpoint="chat", model_group="gpt", le="0.00025")
        == 0
    )
    assert (
        value(m, "alfred_gateway_overhead_seconds_bucket", endpoint="chat", model_group="gpt", le="0.0005")
        == 2
    )
    assert value(m, "alfred_upstream_latency_seconds_count", model_group="gpt", deployment=deployment,
                 provider="openai") == 2  # fmt: skip
    assert value(m, "alfred_upstream_latency_seconds_sum", model_group="gpt", deployment=deployment,
                 provider="openai") == pytest.approx(0.3992)  # fmt: skip
    # only the stream had a first token
    assert value(m, "alfred_time_to_first_token_seconds_count", model_group="gpt", deployment=deployment) == 1
    assert (
        value(m, "alfred_request_duration_seconds_bucket", endpoint="chat", model_group="gpt", le="0.25") == 2
    )


def test_a_bucket_bound_is_inclusive() -> None:
    m = make_metrics()
    record(m, ("chat", "gpt", "openai", "gpt-4o-mini", 200, None, None), overhead_s=0.001)
    assert (
        value(m, "alfred_gateway_overhead_seconds_bucket", endpoint="chat", model_group="gpt", le="0.0005")
        == 0
    )
    assert (
        value(m, "alfred_gateway_overhead_seconds_bucket", endpoint="chat", model_group="gpt", le="0.001")
        == 1
    )


def test_labels_never_take_raw_request_values() -> None:
    m = make_metrics(settings=MetricsSettings(max_label_values=2))
    record(m, ("chat", "jane@example.com", "openai", "gpt-4o-mini", 418, "weird-cache", "t1"))
    for team in ("t2", "t3", "t4"):
        record(m, ("bogus-endpoint", "gpt", "evil", "x", 200, "hit", team))
    body = m.render()[0].decode()
    assert "jane@example.com" not in body and "weird-cache" not in body and "evil" not in body
    assert "bogus-endpoint" not in body
    assert value(m, "alfred_requests_total", endpoint="chat", model_group="other", deployment="gpt/openai/gpt-4o-mini",
                 provider="openai", status="4xx", cache="other") == 1  # fmt: skip
    # teams are open-ended but capped: t1 and t2 got in, t3 and t4 read "other"
    teams = {labels[1][1] for (name, labels) in samples(m) if name == "alfred_cost_usd_total"}
    assert teams == {"t1", "t2", "other"}


def test_a_fallback_is_labelled_with_the_deployment_that_answered() -> None:
    m = make_metrics()
    # asked for "gpt", answered by claude's deployment (a fallback group)
    record(m, ("chat", "gpt", "anthropic", "claude-3-5-haiku", 200, None, None))
    assert value(m, "alfred_requests_total", endpoint="chat", model_group="gpt",
                 deployment="claude/anthropic/claude-3-5-haiku", provider="anthropic", status="200",
                 cache="none") == 1  # fmt: skip


def test_in_flight_goes_up_and_down() -> None:
    m = make_metrics()
    m.in_flight("chat").inc()
    m.in_flight("chat").inc()
    m.in_flight("chat").inc(-1)
    assert value(m, "alfred_requests_in_flight", endpoint="chat") == 1
    assert value(m, "alfred_requests_in_flight", endpoint="embeddings") == 0


def test_breaker_transitions_and_state() -> None:
    m = make_metrics()
    m.breaker_transition("gpt/openai/gpt-4o-mini", "closed", "open")
    m.breaker_transition("gpt/openai/gpt-4o-mini", "open", "half_open")
    dep = "gpt/openai/gpt-4o-mini"
    assert (
        value(m, "alfred_breaker_transitions_total", deployment=dep, from_state="closed", to_state="open")
        == 1
    )
    assert value(m, "alfred_breaker_state", deployment=dep, state="half_open") == 1
    assert value(m, "alfred_breaker_state", deployment=dep, state="open") == 0
    m.breaker_transition("made/up/deployment", "closed", "open")
    assert value(m, "alfred_breaker_state", deployment="other", state="open") == 1


def test_ledger_reservations_and_budget() -> None:
    m = make_metrics()
    for event in ("reserved", "reserved", "reserved", "settled", "released"):
        m.reservation(event)
    m.reservation("expired", 2)
    assert value(m, "alfred_ledger_reservations_total", event="reserved") == 3
    assert value(m, "alfred_ledger_reservations_total", event="expired") == 2
    # the outstanding count and what it holds are the database's, set whole, not counted here
    m.reservations_held(4, 0.25)
    m.reservations_held(3, 0.125)
    assert value(m, "alfred_ledger_reservations_outstanding") == 3
    assert value(m, "alfred_ledger_reserved_usd") == 0.125
    m.ledger_drift(0.5, 2)
    assert value(m, "alfred_ledger_drift_usd") == 0.5 and value(m, "alfred_ledger_stale_reservations") == 2
    m.budget_used("team-a", 0.93)
    assert value(m, "alfred_budget_used_ratio", team="team-a") == pytest.approx(0.93)


def test_images_rate_limits_and_cache_savings() -> None:
    m = make_metrics()
    m.queue_depth("space", 7)
    m.image_job("primary", "ok", 12.0)
    m.image_job("fallback", "error", 3.0)
    m.rate_limited("key")
    m.rate_limited("anything else")
    m.cache_saved("gpt", 0.25)
    assert value(m, "alfred_image_queue_depth", pool="space") == 7
    assert value(m, "alfred_image_jobs_total", route="primary", outcome="ok") == 1
    assert value(m, "alfred_image_jobs_total", route="fallback", outcome="error") == 1
    assert value(m, "alfred_image_generation_seconds_count", route="primary") == 1
    assert ("alfred_image_generation_seconds_count", (("route", "fallback"),)) not in samples(m)
    assert value(m, "alfred_rate_limit_rejections_total", scope="key") == 1
    assert value(m, "alfred_rate_limit_rejections_total", scope="other") == 1
    assert value(m, "alfred_cache_saved_usd_total", model_group="gpt") == 0.25


def test_cache_outcomes_and_deployment_caps_have_bounded_labels() -> None:
    m = make_metrics()
    m.cache_lookup("gpt", "semantic-hit", 0.973)
    m.cache_lookup("gpt", "made-up")
    m.cache_lookup("someone's model", "miss")
    m.cache_saved("gpt", 0.0, prompt_tokens=12, completion_tokens=0)
    m.rate_limited("deployment")
    assert value(m, "alfred_cache_requests_total", model_group="gpt", result="semantic-hit") == 1
    assert value(m, "alfred_cache_requests_total", model_group="gpt", result="other") == 1
    assert value(m, "alfred_cache_requests_total", model_group="other", result="miss") == 1
    assert value(m, "alfred_cache_semantic_similarity_bucket", model_group="gpt", le="0.97") == 0
    assert value(m, "alfred_cache_semantic_similarity_bucket", model_group="gpt", le="0.98") == 1
    assert value(m, "alfred_cache_tokens_saved_total", model_group="gpt", direction="in") == 12
    assert value(m, "alfred_cache_tokens_saved_total", model_group="gpt", direction="out") == 0
    assert value(m, "alfred_cache_saved_usd_total", model_group="gpt") == 0
    assert value(m, "alfred_rate_limit_rejections_total", scope="deployment") == 1


def test_every_metric_is_prefixed_and_described_from_the_start() -> None:
    body = make_metrics().render()[0].decode()
    # the text format names a counter's family with its _total suffix
    names = {
        line.split()[2].removesuffix("_total") for line in body.splitlines() if line.startswith("# TYPE")
    }
    expected = {
        "alfred_requests", "alfred_requests_in_flight", "alfred_request_duration_seconds",
        "alfred_gateway_overhead_seconds", "alfred_upstream_latency_seconds", "alfred_time_to_first_token_seconds",
        "alfred_tokens", "alfred_cost_usd", "alfred_cache_saved_usd", "alfred_rate_limit_rejections",
        "alfred_breaker_state", "alfred_breaker_transitions", "alfred_ledger_reservations_outstanding",
        "alfred_ledger_reservations", "alfred_budget_used_ratio", "alfred_image_queue_depth", "alfred_image_jobs",
        "alfred_image_generation_seconds", "alfred_build_info", "alfred_cache_requests",
        "alfred_cache_semantic_similarity", "alfred_cache_tokens_saved", "alfred_ledger_reserved_usd",
        "alfred_ledger_drift_usd", "alfred_ledger_stale_reservations",
    }  # fmt: skip
    assert expected <= names
    assert all(name.startswith("alfred_") for name in names)


def test_openmetrics_when_the_scraper_asks_for_it() -> None:
    m = make_metrics()
    body, content_type = m.render("application/openmetrics-text; version=1.0.0,text/plain;q=0.5")
    assert content_type.startswith("application/openmetrics-text")
    assert body.decode().rstrip().endswith("# EOF")
    body, content_type = m.render(None)
    assert content_type.startswith("text/plain; version=0.0.4")


def test_two_apps_in_one_process_keep_separate_registries() -> None:
    a, b = make_metrics(), make_metrics()
    record(a, ("chat", "gpt", "openai", "gpt-4o-mini", 200, None, None))
    assert ("alfred_requests_total" in a.render()[0].decode()) and 'status="200"' not in b.render()[
        0
    ].decode()


def test_label_helpers() -> None:
    bounded = BoundedLabel(["a"], cap=1)
    assert [bounded(v) for v in ("a", "b", "c", "b", None)] == ["a", "b", "other", "b", "none"]
    assert status_label(429) == "429" and status_label(418) == "4xx" and status_label(507) == "5xx"
    assert fixed("hit", frozenset({"hit"})) == "hit" and fixed("x", frozenset({"hit"})) == "other"
