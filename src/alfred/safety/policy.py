"""The effective safety policy for one caller: defaults, then the team's override, then the key's."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

from alfred.safety.pii import PII_KINDS
from alfred.safety.secrets import SECRET_KINDS
from alfred.safety.settings import DetectorOverride, PolicyOverride, SafetySettings


@dataclass(frozen=True, slots=True)
class DetectorPolicy:
    """What to do with one detector's findings, with per-kind exceptions."""

    action: str
    restore: bool = False
    entities: Mapping[str, str] = field(default_factory=dict)
    threshold: float = 0.0

    def action_for(self, kind: str) -> str:
        return self.entities.get(kind, self.action)

    def active_kinds(self, kinds: tuple[str, ...]) -> frozenset[str]:
        """The kinds worth scanning for: those whose action is not ``off``."""
        return frozenset(k for k in kinds if self.action_for(k) != "off")


@dataclass(frozen=True, slots=True)
class Policy:
    """The three detectors' policies for one caller; ``pii_kinds``/``secret_kinds`` drive the scan."""

    pii: DetectorPolicy
    secrets: DetectorPolicy
    injection: DetectorPolicy
    scan_system: bool = False
    pii_kinds: frozenset[str] = frozenset()
    secret_kinds: frozenset[str] = frozenset()

    @classmethod
    def build(
        cls,
        pii: DetectorPolicy,
        secrets: DetectorPolicy,
        injection: DetectorPolicy,
        scan_system: bool = False,
    ) -> Policy:
        return cls(
            pii,
            secrets,
            injection,
            scan_system,
            pii.active_kinds(PII_KINDS),
            secrets.active_kinds(SECRET_KINDS),
        )

    @property
    def idle(self) -> bool:
        """Nothing to scan for at all."""
        return not self.pii_kinds and not self.secret_kinds and self.injection.action == "off"


def _apply(base: DetectorPolicy, override: DetectorOverride | None) -> DetectorPolicy:
    if override is None:
        return base
    entities = dict(base.entities)
    entities.update(override.entities or {})
    return DetectorPolicy(
        action=override.action if override.action is not None else base.action,
        restore=override.restore if override.restore is not None else base.restore,
        entities=entities,
        threshold=override.threshold if override.threshold is not None else base.threshold,
    )


def _overlay(policy: Policy, override: PolicyOverride | None) -> Policy:
    if override is None:
        return policy
    return Policy.build(
        _apply(policy.pii, override.pii),
        _apply(policy.secrets, override.secrets),
        _apply(policy.injection, override.injection),
        policy.scan_system,
    )


class PolicyBook:
    """Resolves (team, key) to a ``Policy``; resolutions are memoised (bounded) per instance."""

    def __init__(self, settings: SafetySettings, cache_size: int = 4096) -> None:
        self._settings = settings
        self.default = Policy.build(
            DetectorPolicy(settings.pii.action, settings.pii.restore, dict(settings.pii.entities)),
            DetectorPolicy(
                settings.secrets.action, settings.secrets.restore, dict(settings.secrets.entities)
            ),
            DetectorPolicy(settings.injection.action, threshold=settings.injection.threshold),
            settings.injection.scan_system,
        )
        self._cache: OrderedDict[tuple[str | None, str | None], Policy] = OrderedDict()
        self._cache_size = cache_size

    def for_caller(self, team_id: str | None, key_id: str | None) -> Policy:
        team_override = self._settings.teams.get(team_id) if team_id else None
        key_override = self._settings.keys.get(key_id) if key_id else None
        if team_override is None and key_override is None:
            return self.default
        cache_key = (team_id if team_override else None, key_id if key_override else None)
        cached = self._cache.get(cache_key)
        if cached is not None:
            self._cache.move_to_end(cache_key)
            return cached
        policy = _overlay(_overlay(self.default, team_override), key_override)
        self._cache[cache_key] = policy
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return policy
