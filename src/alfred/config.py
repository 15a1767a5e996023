"""Typed settings: one YAML file plus ``ALFRED_*`` environment overrides.

``${NAME}`` and ``${NAME:-default}`` in YAML strings are expanded from the environment. Secret
fields hold references (``env:NAME``, ``file:PATH``, ``vault:MOUNT/PATH#FIELD``) or literals and are
resolved by ``alfred.secrets`` when the app is built. Environment overrides use ``__`` for nesting:
``ALFRED_SERVER__PORT=8080``; ``ALFRED_MASTER_KEY`` sets the master key.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from alfred.cache.settings import CacheSettings
from alfred.configbase import Price as Price
from alfred.configbase import Strict
from alfred.governance.settings import GovernanceSettings
from alfred.images.settings import ImageSettings
from alfred.observability.settings import ObservabilitySettings
from alfred.pipeline.stream_limit import StreamLimitSettings
from alfred.routing.settings import RateLimitSettings, RoutingSettings
from alfred.safety.settings import SafetySettings
from alfred.state.settings import StateSettings
from alfred.storage.settings import LocalStorageSettings, StorageSettings
from alfred.vault import VaultSettings

ProviderKind = Literal[
    "openai",
    "azure",
    "anthropic",
    "gemini",
    "bedrock",
    "cohere",
    "mistral",
    "together",
    "groq",
    "ollama",
    "huggingface",
    "openai-compatible",
]

# Where each provider lives when the config does not say.
DEFAULT_BASE_URLS: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
    "bedrock": "https://bedrock-runtime.{region}.amazonaws.com",
    "cohere": "https://api.cohere.com",
    "mistral": "https://api.mistral.ai/v1",
    "together": "https://api.together.xyz/v1",
    "groq": "https://api.groq.com/openai/v1",
    "ollama": "http://127.0.0.1:11434",
    "huggingface": "https://router.huggingface.co/v1",
}


class ServerSettings(Strict):
    host: str = "127.0.0.1"
    port: int = Field(9090, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64)
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="larger bodies get 413")
    max_messages: int = Field(2048, ge=1)
    max_n: int = Field(16, ge=1)
    cors_origins: list[str] = Field(default_factory=list)
    cors_allow_credentials: bool = Field(False, description="never with '*' in cors_origins")
    max_header_bytes: int = Field(32 * 1024, ge=1024, description="request line + headers; larger: 431")
    header_timeout_s: float = Field(10.0, gt=0, description="to receive a request's head; slower: 408")
    body_timeout_s: float = Field(60.0, gt=0, description="to receive a request's body; slower: 408")


class TimeoutSettings(Strict):
    connect: float = Field(10.0, gt=0)
    first_byte: float = Field(120.0, gt=0)
    total: float = Field(600.0, gt=0)
    stream_idle: float = Field(60.0, gt=0)


class ProviderSettings(Strict):
    """One upstream account: how to reach and authenticate to it."""

    kind: ProviderKind
    base_url: str | None = None
    api_key: str | None = Field(None, description="a secret reference (env:NAME, file:PATH) or literal")
    api_version: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    options: dict[str, str] = Field(default_factory=dict)
    timeouts: TimeoutSettings = Field(default_factory=TimeoutSettings)
    optional: bool = Field(
        False, description="skip this provider (and its deployments) when its key is missing"
    )


class DeploymentSettings(Strict):
    """One place a model group can be served from."""

    provider: str
    model: str
    weight: int = Field(1, ge=0)
    price: Price | None = None
    region: str | None = None
    sla_ms: int | None = Field(None, gt=0)
    rpm: int | None = Field(None, gt=0)
    tpm: int | None = Field(None, gt=0)


class ModelGroupSettings(Strict):
    """A public model name and the deployments behind it."""

    name: str = Field(min_length=1)
    kind: Literal["chat", "embeddings", "image"] = "chat"
    description: str | None = None
    demo: bool = Field(False, description="served by the built-in mock upstream; labelled as a demo")
    deployments: list[DeploymentSettings] = Field(min_length=1)
    price: Price | None = None
    fallbacks: list[str] = Field(default_factory=list)


class PipelineSettings(Strict):
    """Which stages run, in which order, and the request-level deadline."""

    order: list[str] = Field(
        default_factory=lambda: [
            "rate_limit",
            "auth",
            "quota",
            "stream_limit",
            "safety",
            "metrics",
            "cache",
            "timeout",
        ],
        description="stage names, outermost first (the seed's order by default)",
    )
    request_timeout_s: float = Field(
        600.0, gt=0, description="deadline to an answer or a stream's first chunk"
    )
    max_request_timeout_s: float = Field(3600.0, gt=0, description="the most X-Alfred-Timeout may ask for")


class Settings(BaseSettings):
    """The whole configuration of one Alfred deployment."""

    model_config = SettingsConfigDict(
        env_prefix="ALFRED_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    server: ServerSettings = Field(default_factory=ServerSettings)
    master_key: str | None = Field(None, description="admin key; a secret reference or literal")
    key_hash_secret: str | None = Field(None, description="HMAC secret for stored key hashes")
    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    models: list[ModelGroupSettings] = Field(default_factory=list)
    retries: int = Field(2, ge=0, le=10)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    vault: VaultSettings | None = None
    state: StateSettings = Field(default_factory=StateSettings)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    safety: SafetySettings = Field(default_factory=SafetySettings)
    stream_limit: StreamLimitSettings = Field(default_factory=StreamLimitSettings)
    images: ImageSettings = Field(default_factory=ImageSettings)
    storage: StorageSettings = Field(default_factory=LocalStorageSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    governance: GovernanceSettings = Field(default_factory=GovernanceSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment overrides beat the YAML file (passed as init kwargs).
        return env_settings, init_settings

    @model_validator(mode="after")
    def _references_resolve(self) -> Settings:
        names = [m.name for m in self.models]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"model names must be unique; repeated: {', '.join(dupes)}")
        for index, group in enumerate(self.models):
            for d_index, deployment in enumerate(group.deployments):
                if deployment.provider not in self.providers:
                    known = ", ".join(sorted(self.providers)) or "none"
                    raise ValueError(
                        f"models[{index}].deployments[{d_index}].provider: unknown provider "
                        f"{deployment.provider!r} (configured: {known})"
                    )
            for fallback in group.fallbacks:
                if fallback not in names:
                    raise ValueError(f"models[{index}].fallbacks: unknown model group {fallback!r}")
        group_names = set(names)
        for rule in self.routing.rules:
            if rule.group not in group_names:
                raise ValueError(f"routing.rules[{rule.name}].group: unknown model group {rule.group!r}")
        for where, groups in (
            ("routing.group_strategies", self.routing.group_strategies),
            ("routing.sla_ms", self.routing.sla_ms),
        ):
            for name in groups:
                if name not in group_names:
                    raise ValueError(f"{where}: unknown model group {name!r}")
        return self


class ConfigError(Exception):
    """A configuration problem, worded for a person: where it is and what to do."""


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _expand(
    value: Any, where: str, environ: dict[str, str] | os._Environ[str], keep_unset: bool = False
) -> Any:
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in environ:
                return environ[name]
            if default is not None:
                return default
            if keep_unset:
                return match.group(0)
            raise ConfigError(
                f"{where}: environment variable {name} is not set (and no ${{{name}:-default}})"
            )

        return _VAR.sub(replace, value)
    if isinstance(value, dict):
        return {k: _expand(v, f"{where}.{k}", environ, keep_unset) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, f"{where}[{i}]", environ, keep_unset) for i, v in enumerate(value)]
    return value


def _line_index(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[(*path, key)] = key_node.start_mark.line + 1
            _line_index(value_node, (*path, key), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_index(item, (*path, i), out)


def _line_for(loc: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int | None:
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return None


def load_settings(
    path: str | Path | None, environ: dict[str, str] | None = None, *, keep_unset_vars: bool = False
) -> Settings:
    """Read, expand and validate a config file; raise ``ConfigError`` naming file:line and key."""
    try:
        return _load_settings(path, environ, keep_unset_vars)
    except RecursionError:
        raise ConfigError(f"{path}: the YAML is nested too deeply to be a config") from None


def _load_settings(
    path: str | Path | None, environ: dict[str, str] | None, keep_unset_vars: bool
) -> Settings:
    env = dict(os.environ) if environ is None else environ
    if path is None:
        try:
            return Settings()
        except ValidationError as exc:
            raise ConfigError(_explain(exc, "<environment>", {})) from exc
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file}: not UTF-8 text (byte {exc.start}); save the config as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read config ({exc.strerror}); check the path") from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        context = getattr(exc, "context_mark", None)
        where = f"{file}:{mark.line + 1}" if mark else str(file)
        started = (
            f" (in the part that starts at line {context.line + 1})"
            if context and mark and context.line != mark.line
            else ""
        )
        raise ConfigError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}{started}") from exc
    lines: dict[tuple[Any, ...], int] = {}
    if node is not None:
        _line_index(node, (), lines)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}:1: the top level must be a mapping of settings")
    odd = [key for key in raw if not isinstance(key, str)]
    if odd:
        raise ConfigError(f"{file}: top-level setting names must be text; found {odd[0]!r}")
    try:
        data = _expand(raw, "config", env, keep_unset_vars)
    except ConfigError as exc:
        raise ConfigError(f"{file}: {exc}") from exc
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, str(file), lines)) from exc


def _explain(exc: ValidationError, file: str, lines: dict[tuple[Any, ...], int]) -> str:
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        key = ".".join(str(p) for p in loc) or "(top level)"
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown setting (check the spelling; see docs/configuration.md)"
        line = _line_for(loc, lines)
        where = f"{file}:{line}" if line else file
        problems.append(f"{where}: {key}: {message}")
    return "invalid configuration:\n  " + "\n  ".join(problems)
