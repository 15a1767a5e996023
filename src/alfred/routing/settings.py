"""Settings for traffic control: rate limits, circuit breakers, health tracking, strategies, intent rules.

Meant to hang off the top-level ``Settings`` as ``rate_limits: RateLimitSettings`` and
``routing: RoutingSettings``. Rate limits sit here, beside the router's settings, because both are
traffic control over the same state backend; the stage that applies them is ``pipeline/rate_limit.py``.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from alfred.configbase import Strict
from alfred.state.base import BreakerPolicy

StrategyName = Literal["weighted", "least-latency", "cheapest-within-sla", "least-busy"]


# --- rate limits ---------------------------------------------------------------------------------


class RateValue(Strict):
    """Requests and tokens per minute for one caller of a scope (either may be left out)."""

    rpm: int | None = Field(None, gt=0)
    tpm: int | None = Field(None, gt=0)


class RateLimitSettings(Strict):
    """Token-bucket limits per minute; each configured scope is its own bucket per caller.

    ``key`` is the default for API keys without their own ``rpm_limit``/``tpm_limit``; ``model``
    applies to every requested model name unless ``models`` names it.
    """

    enabled: bool = True
    key: RateValue | None = None
    user: RateValue | None = None
    team: RateValue | None = None
    ip: RateValue | None = None
    model: RateValue | None = None
    models: dict[str, RateValue] = Field(default_factory=dict)
    default_completion_tokens: int = Field(
        256, ge=0, description="tokens reserved for the answer when a request sets no max_tokens"
    )
    fail_open: bool = Field(True, description="let requests through (and log) when the state backend fails")


# --- circuit breaker and health -----------------------------------------------------------------


class BreakerSettings(Strict):
    """When a deployment's breaker opens (count and/or error rate in a window) and how it recovers."""

    enabled: bool = True
    # By default the share of failures opens a breaker, not their count: under heavy traffic a count
    # (say 5 a minute) is reached by a healthy deployment's rare timeouts, and opening the only
    # deployment of a group turns them into minutes of 503s. Measured in bench/chaos_load.py's
    # "hiccup" case (0.2% of answers late): a count of 5 served 28% of requests, a 50% share 99.8%.
    failure_threshold: int | None = Field(
        None, ge=1, description="failures in the window that open it (none: only the error rate)"
    )
    error_rate_threshold: float | None = Field(0.5, gt=0, le=1, description="failure share that opens it")
    min_requests: int = Field(10, ge=1, description="results needed before the error rate counts")
    window_s: float = Field(60.0, gt=0)
    buckets: int = Field(12, ge=1, le=120, description="slots the sliding window is counted in")
    cooldown_s: float = Field(30.0, ge=0, description="how long it stays open before one probe")
    probe_timeout_s: float = Field(30.0, gt=0, description="a probe that never reports frees its claim")
    history: int = Field(50, ge=1, le=1000, description="transitions kept per breaker")
    closed_cache_s: float = Field(
        0.0, ge=0, description="trust a 'closed' answer locally this long (saves a Redis round trip)"
    )

    @model_validator(mode="after")
    def _some_threshold(self) -> BreakerSettings:
        if self.failure_threshold is None and self.error_rate_threshold is None:
            raise ValueError("set failure_threshold, error_rate_threshold or both")
        return self

    def policy(self) -> BreakerPolicy:
        return BreakerPolicy(
            failure_threshold=self.failure_threshold,
            error_rate_threshold=self.error_rate_threshold,
            min_requests=self.min_requests,
            window_s=self.window_s,
            buckets=self.buckets,
            cooldown_s=self.cooldown_s,
            probe_timeout_s=self.probe_timeout_s,
            history=self.history,
        )


class HealthSettings(Strict):
    """How per-deployment latency and errors are tracked (in each gateway process)."""

    ewma_alpha: float = Field(0.2, gt=0, le=1, description="weight of the newest latency sample")
    window: int = Field(256, ge=1, le=10_000, description="recent results kept for p95 and error rate")
    max_age_s: float = Field(
        300.0, gt=0, description="older results are forgotten, so a recovered deployment is retried"
    )
    min_samples: int = Field(5, ge=1, description="results needed before p95 is trusted")


# --- intent rules and strategies -----------------------------------------------------------------


class IntentRuleSettings(Strict):
    """One rule: every condition given must hold; the first matching rule picks the model group."""

    name: str = Field(min_length=1)
    group: str = Field(min_length=1, description="the model group matching calls go to")
    models: list[str] | None = Field(None, description="requested model names")
    pattern: str | None = Field(None, description="regex searched in the last user message; (?i) for case")
    min_tokens: int | None = Field(None, ge=0, description="estimated prompt tokens at least")
    max_tokens: int | None = Field(None, ge=0, description="estimated prompt tokens at most")
    tools: bool | None = Field(None, description="request has tools (true) or has none (false)")
    images: bool | None = Field(None, description="messages carry images (true) or none (false)")
    intents: list[str] | None = Field(None, description="values of the X-Alfred-Intent header")
    teams: list[str] | None = Field(None, description="the caller's team ids")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regex: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _has_condition(self) -> IntentRuleSettings:
        conditions = (self.models, self.pattern, self.min_tokens, self.max_tokens, self.tools)
        if all(c is None for c in (*conditions, self.images, self.intents, self.teams)):
            raise ValueError(f"intent rule {self.name!r} has no condition; it would match everything")
        if self.min_tokens is not None and self.max_tokens is not None and self.min_tokens > self.max_tokens:
            raise ValueError(f"intent rule {self.name!r}: min_tokens is above max_tokens")
        return self


class RoutingSettings(Strict):
    """How the router picks among deployments and steers calls between model groups."""

    strategy: StrategyName = "weighted"
    group_strategies: dict[str, StrategyName] = Field(default_factory=dict, description="per model group")
    sla_ms: dict[str, int] = Field(
        default_factory=dict, description="p95 latency target per model group (a deployment's sla_ms wins)"
    )
    rules: list[IntentRuleSettings] = Field(default_factory=list)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)

    @field_validator("sla_ms")
    @classmethod
    def _positive(cls, value: dict[str, int]) -> dict[str, int]:
        bad = sorted(name for name, ms in value.items() if ms <= 0)
        if bad:
            raise ValueError(f"sla_ms must be positive (groups: {', '.join(bad)})")
        return value

    @model_validator(mode="after")
    def _unique_rule_names(self) -> RoutingSettings:
        names = [r.name for r in self.rules]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"intent rule names must be unique; repeated: {', '.join(repeated)}")
        return self
