from __future__ import annotations

import pytest
from pydantic import ValidationError

from alfred.safety.policy import PolicyBook
from alfred.safety.settings import SafetySettings


def book(**config: object) -> PolicyBook:
    return PolicyBook(SafetySettings.model_validate(config))


def test_defaults_log_pii_block_secrets_and_log_injection() -> None:
    policy = book().default
    assert (policy.pii.action, policy.secrets.action, policy.injection.action) == ("log", "block", "log")
    assert policy.injection.threshold == 0.7
    assert "EMAIL" in policy.pii_kinds and "AWS_SECRET_KEY" in policy.secret_kinds


def test_key_overrides_team_overrides_default() -> None:
    policies = book(
        pii={"action": "mask"},
        teams={"research": {"pii": {"action": "log"}, "injection": {"action": "block", "threshold": 0.5}}},
        keys={"k1": {"pii": {"entities": {"IP": "off"}}}},
    )
    assert policies.for_caller(None, None).pii.action == "mask"
    team = policies.for_caller("research", None)
    assert team.pii.action == "log" and team.injection.action == "block" and team.injection.threshold == 0.5
    both = policies.for_caller("research", "k1")
    assert both.pii.action == "log" and both.pii.action_for("IP") == "off" and "IP" not in both.pii_kinds
    assert policies.for_caller("other-team", "k1").pii.action == "mask"
    assert policies.for_caller("research", "k1") is both  # memoised


def test_off_everywhere_is_idle() -> None:
    policy = book(pii={"action": "off"}, secrets={"action": "off"}, injection={"action": "off"}).default
    assert policy.idle


@pytest.mark.parametrize(
    "config",
    [
        {"pii": {"action": "redact"}},
        {"pii": {"entities": {"PASSPORT": "mask"}}},
        {"injection": {"action": "mask"}},
        {"teams": {"t": {"injection": {"action": "mask"}}}},
        {"teams": {"t": {"pii": {"threshold": 0.3}}}},
        {"pii": {"action": "mask", "colour": "red"}},
        {"injection": {"threshold": 1.5}},
    ],
)
def test_invalid_configs_are_rejected(config: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SafetySettings.model_validate(config)
