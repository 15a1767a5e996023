"""Safety configuration (the ``safety:`` section): defaults per detector, overrides per team and per key.

A detector's action is ``block`` (400 ``content_policy_violation``), ``mask`` (typed placeholders
before the provider sees the prompt; originals restored in the answer when ``restore`` is on),
``log`` (findings recorded on the call, types and counts only) or ``off``. ``entities`` overrides
the action per kind, e.g. ``{IP: off}``. Prompt injection cannot be masked: it is a score, not a span.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alfred.safety.pii import PII_KINDS
from alfred.safety.secrets import SECRET_KINDS

Action = Literal["block", "mask", "log", "off"]
InjectionAction = Literal["block", "log", "off"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_kinds(entities: dict[str, Action] | None, known: tuple[str, ...], detector: str) -> None:
    unknown = sorted(set(entities or {}) - set(known))
    if unknown:
        raise ValueError(f"unknown {detector} entities {unknown}; known: {', '.join(known)}")


class PiiSettings(_Strict):
    """PII detection: emails, phones, cards, IBANs, SSNs, IP and MAC addresses."""

    action: Action = "log"
    restore: bool = Field(True, description="put the original values back in the answer when masking")
    entities: dict[str, Action] = Field(default_factory=dict)

    @field_validator("entities")
    @classmethod
    def _known(cls, value: dict[str, Action]) -> dict[str, Action]:
        _check_kinds(value, PII_KINDS, "pii")
        return value


class SecretsSettings(_Strict):
    """Credential detection: provider keys, cloud credentials, tokens, private keys, high entropy."""

    action: Action = "block"
    restore: bool = Field(False, description="never hand a masked secret back unless asked to")
    entities: dict[str, Action] = Field(default_factory=dict)

    @field_validator("entities")
    @classmethod
    def _known(cls, value: dict[str, Action]) -> dict[str, Action]:
        _check_kinds(value, SECRET_KINDS, "secrets")
        return value


class InjectionSettings(_Strict):
    """Prompt-injection scoring of user messages and tool results."""

    action: InjectionAction = "log"
    threshold: float = Field(
        0.7, ge=0.0, le=1.0, description="block (or log as a hit) at or above this score"
    )
    scan_system: bool = Field(
        False, description="also score system and developer messages (trusted by default)"
    )


class DetectorOverride(_Strict):
    """A partial detector setting for one team or key; unset fields inherit."""

    action: Action | None = None
    restore: bool | None = None
    entities: dict[str, Action] | None = None
    threshold: float | None = Field(None, ge=0.0, le=1.0)


class PolicyOverride(_Strict):
    """Per-team or per-key changes to the default policy."""

    pii: DetectorOverride | None = None
    secrets: DetectorOverride | None = None
    injection: DetectorOverride | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PolicyOverride:
        if self.injection is not None:
            if self.injection.action == "mask":
                raise ValueError("injection.action cannot be 'mask' (use block, log or off)")
            if self.injection.entities:
                raise ValueError("injection has no entities")
        for name, detector, known in (("pii", self.pii, PII_KINDS), ("secrets", self.secrets, SECRET_KINDS)):
            if detector is not None:
                _check_kinds(detector.entities, known, name)
                if detector.threshold is not None:
                    raise ValueError(f"{name}.threshold: only injection has a threshold")
        return self


class SafetySettings(_Strict):
    """The ``safety:`` section of the gateway config."""

    enabled: bool = True
    pii: PiiSettings = Field(default_factory=PiiSettings)
    secrets: SecretsSettings = Field(default_factory=SecretsSettings)
    injection: InjectionSettings = Field(default_factory=InjectionSettings)
    teams: dict[str, PolicyOverride] = Field(default_factory=dict, description="by team id")
    keys: dict[str, PolicyOverride] = Field(default_factory=dict, description="by key id; wins over the team")
    entropy_margin: float = Field(
        0.4,
        ge=0.0,
        le=2.0,
        description="bits/char below a random string of the same length still flagged as a secret",
    )
    offload_chars: int = Field(
        65536, ge=0, description="scan requests with more text than this in a worker thread (0: never)"
    )
