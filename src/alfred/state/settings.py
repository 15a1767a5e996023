"""Settings for the shared-state backend: in-process memory (one gateway) or Redis (many)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from alfred.configbase import Strict


class RedisSettings(Strict):
    """How to reach Redis: a URL, or Sentinel (``host:port`` list plus the master's name)."""

    url: str = Field(
        "redis://127.0.0.1:6379/0", description="redis:// or rediss:// URL (ignored with sentinels)"
    )
    sentinels: list[str] = Field(default_factory=list, description="Sentinel addresses as host:port")
    sentinel_master: str = Field("mymaster", min_length=1)
    db: int = Field(0, ge=0, description="database number when connecting through Sentinel")
    password: str | None = Field(None, description="a secret reference (env:NAME, file:PATH) or literal")
    key_prefix: str = Field(
        "alfred:",
        description="prefix of every key; for Redis Cluster use a hash tag, e.g. '{alfred}:', so "
        "multi-key scripts stay in one slot",
    )
    socket_timeout_s: float = Field(1.0, gt=0)
    connect_timeout_s: float = Field(1.0, gt=0)
    max_connections: int = Field(200, ge=1)
    server_clock: bool = Field(
        True,
        description="read time from Redis (TIME) inside the scripts, so gateway clock skew never "
        "changes a limit or a cooldown",
    )

    @field_validator("sentinels")
    @classmethod
    def _host_port(cls, value: list[str]) -> list[str]:
        for address in value:
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"sentinel address {address!r} must be host:port")
        return value


class StateSettings(Strict):
    """Where rate limits, breaker state, locks and pub/sub live."""

    backend: Literal["memory", "redis"] = "memory"
    redis: RedisSettings = Field(default_factory=RedisSettings, description="used when backend is redis")
