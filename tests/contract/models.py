"""The models examples/mock.yaml serves, read from the file so every added provider gets tested."""

from __future__ import annotations

import yaml

from tests.servers import ROOT


def mock_models(kind: str = "chat") -> list[str]:
    config = yaml.safe_load((ROOT / "examples" / "mock.yaml").read_text())
    return [m["name"] for m in config["models"] if m.get("kind", "chat") == kind]
