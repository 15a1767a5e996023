"""The app's lifespan: startup runs the components, then freezes what it built out of the GC's sight and
collects the youngest generation less often."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from alfred.app import build_app
from alfred.config import Settings


@pytest.fixture
def unfrozen() -> Iterator[None]:
    thresholds = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()  # leave the test process as it was
    gc.set_threshold(*thresholds)


def settings() -> Settings:
    return Settings.model_validate(
        {
            "providers": {
                "up": {
                    "kind": "openai",
                    "base_url": "http://127.0.0.1:9/v1",
                    "api_key": "sk-x",  # pragma: allowlist secret
                }
            },
            "models": [{"name": "m", "deployments": [{"provider": "up", "model": "gpt-4o-mini"}]}],
        }
    )


async def test_startup_completes_and_freezes_the_startup_heap(unfrozen: None) -> None:
    app = build_app(settings())
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []
    frozen_at_startup: list[int] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            frozen_at_startup.append(gc.get_freeze_count())
        sent.append(message)

    assert gc.get_freeze_count() == 0
    gc.set_threshold(700, 10, 10)
    await app({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    # The app itself was built before startup, so it is among what was frozen.
    assert frozen_at_startup and frozen_at_startup[0] > 1000
    assert gc.get_threshold() == (50_000, 10, 10)
