"""Settings for metrics, logs and traces (the ``observability:`` block of the config file)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Strict(BaseModel):
    # Defined here rather than imported from alfred.config, which imports this module.
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricsSettings(_Strict):
    """Prometheus metrics and the ``GET /metrics`` endpoint."""

    enabled: bool = True
    path: str = Field("/metrics", pattern=r"^/[A-Za-z0-9/_.-]*$")
    multiprocess_dir: str | None = Field(
        None,
        description=(
            "directory for prometheus_client's multiprocess files; default: PROMETHEUS_MULTIPROC_DIR, "
            "else a fresh temporary directory when server.workers > 1"
        ),
    )
    max_label_values: int = Field(
        200,
        ge=1,
        description="distinct values an open-ended label (team, pool) may take; later ones read 'other'",
    )


class LoggingSettings(_Strict):
    """The JSON log: one line per request plus the application's own records."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    requests: bool = Field(True, description="write one line per HTTP request")
    log_prompts: bool = Field(
        False, description="add the prompt text to request lines (never in privacy mode)"
    )
    prompt_max_chars: int = Field(2000, ge=1)


class TracingSettings(_Strict):
    """OpenTelemetry traces, exported over OTLP/HTTP when an endpoint is set; off otherwise."""

    otlp_endpoint: str | None = Field(None, description="e.g. http://otel-collector:4318/v1/traces")
    headers: dict[str, str] = Field(default_factory=dict, description="sent with every export (auth tokens)")
    service_name: str = "alfred"
    sample_ratio: float = Field(1.0, ge=0.0, le=1.0)

    @field_validator("otlp_endpoint")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("otlp_endpoint must be an http:// or https:// URL (OTLP over HTTP)")
        return value


class ObservabilitySettings(_Strict):
    """Metrics, logs and traces."""

    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
