"""Validate an Alfred YAML embedded in a deploy file against the real settings models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from alfred.config import Settings
from alfred.images.settings import ImageSettings
from alfred.ledger.settings import LedgerSettings
from alfred.state.settings import StateSettings
from alfred.vault import VaultSettings

# Sections owned by parts that mount them in Settings; until a section is mounted there, it is
# validated by its own model so a typo in a deploy file still fails.
SECTIONS: dict[str, type[BaseModel]] = {
    "state": StateSettings,
    "images": ImageSettings,
    "ledger": LedgerSettings,
    "vault": VaultSettings,
}


def validate_alfred_config(raw: dict[str, Any]) -> Settings:
    data = dict(raw)
    for name, model in SECTIONS.items():
        if name in data and name not in Settings.model_fields:
            model.model_validate(data.pop(name))
    return Settings(**data)
