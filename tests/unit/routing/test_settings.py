from __future__ import annotations

import pytest
from pydantic import ValidationError

from alfred.routing.settings import BreakerSettings, RateLimitSettings, RoutingSettings
from alfred.state.settings import StateSettings


def test_defaults_and_policy() -> None:
    routing = RoutingSettings()
    assert routing.strategy == "weighted" and routing.rules == []
    policy = routing.breaker.policy()
    assert policy.failure_threshold is None and policy.error_rate_threshold == 0.5
    assert policy.min_requests == 10 and policy.cooldown_s == 30 and policy.slot_s == 5


def test_strict_and_frozen() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        RoutingSettings(stratgy="weighted")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        RoutingSettings(strategy="round-robin")  # type: ignore[arg-type,unused-ignore]
    with pytest.raises(ValidationError):
        RoutingSettings().strategy = "least-busy"  # type: ignore[misc,unused-ignore]


def test_breaker_needs_a_threshold() -> None:
    with pytest.raises(ValidationError, match="failure_threshold"):
        BreakerSettings(error_rate_threshold=None)
    assert BreakerSettings(failure_threshold=5, error_rate_threshold=None).policy().failure_threshold == 5


def test_routing_validates_sla_and_rule_names() -> None:
    with pytest.raises(ValidationError, match="positive"):
        RoutingSettings(sla_ms={"chat": 0})
    rule = {"name": "r", "group": "g", "tools": True}
    with pytest.raises(ValidationError, match="unique"):
        RoutingSettings.model_validate({"rules": [rule, rule]})


def test_rate_limits_from_yaml_shape() -> None:
    limits = RateLimitSettings.model_validate(
        {"key": {"rpm": 60}, "ip": {"rpm": 600, "tpm": 100_000}, "models": {"gpt-4o": {"tpm": 30_000}}}
    )
    assert limits.key is not None and limits.key.rpm == 60 and limits.key.tpm is None
    with pytest.raises(ValidationError):
        RateLimitSettings.model_validate({"key": {"rpm": 0}})


def test_state_settings() -> None:
    assert StateSettings().backend == "memory"
    state = StateSettings.model_validate({"backend": "redis", "redis": {"sentinels": ["10.0.0.1:26379"]}})
    assert state.redis.sentinels == ["10.0.0.1:26379"] and state.redis.key_prefix == "alfred:"
    with pytest.raises(ValidationError, match="host:port"):
        StateSettings.model_validate({"backend": "redis", "redis": {"sentinels": ["nohost"]}})
