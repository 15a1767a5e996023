from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from alfred.images.build import licence_warnings
from alfred.images.factories import build_pool, primary_slots
from alfred.images.queue_kafka import KafkaJobQueue, topic_name
from alfred.images.settings import ImageSettings
from tests.unit.images.fakes import FakeBackends
from tests.unit.images.harness import BASE, image_settings, merge


def test_defaults_are_the_seeds() -> None:
    settings = ImageSettings()
    assert settings.router.threshold == 50 and settings.router.policy == "queue-depth"
    assert settings.queue.backend == "memory" and settings.cache.enabled
    assert image_settings().models[0].prices.fallback == Decimal("0.0023")


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ({"models": [{"name": "sdxl", "primary": ["space-9"]}]}, "unknown backend 'space-9'"),
        (
            {"models": [{"name": "a", "primary": ["space-1"]}, {"name": "a", "primary": ["space-1"]}]},
            "unique",
        ),
        ({"models": [{"name": "sdxl"}]}, "at least one primary or fallback"),
        ({"router": {"threshold": -1}}, "threshold"),
        ({"router": {"policy": "fastest"}}, "policy"),
        ({"router": {"fallback_spend_cap_per_hour": "-1"}}, "negative"),
        ({"queue": {"visibility": 3}}, "visibility"),  # a typo is an error, not ignored
        ({"default_model": "flux"}, "unknown image model 'flux'"),
    ],
)
def test_bad_settings_are_refused_with_the_key(override: dict[str, object], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        ImageSettings.model_validate(
            merge(BASE, override) if "models" not in override else {**BASE, **override}
        )


def test_model_lookup_defaults_to_the_first_model() -> None:
    settings = image_settings()
    assert settings.model(None).name == "sdxl"  # type: ignore[union-attr]
    assert settings.model("nope") is None


def test_a_commercial_deployment_is_warned_about_non_commercial_models() -> None:
    settings = image_settings(
        commercial=True,
        models=[
            {"name": "sdxl", "primary": ["space-1"], "licence": "commercial"},
            {"name": "sdxl-turbo", "primary": ["space-2"], "licence": "non-commercial"},
        ],
    )
    assert licence_warnings(settings) == [
        "image model 'sdxl-turbo' is licensed for non-commercial use only, but this deployment is commercial"
    ]
    assert licence_warnings(image_settings()) == []


def test_pools_have_one_instance_per_slot_and_unknown_kinds_are_named() -> None:
    settings = image_settings()
    factory = FakeBackends()
    model = settings.models[0]
    pool = build_pool(settings, model, model.fallback, {"fake": factory})
    assert pool.size == 5 and pool.names() == ["replicate"] * 4 + ["openai-images"]
    assert primary_slots(settings, model) == 2
    with pytest.raises(ValueError, match=r"images\.backends\.space-1\.kind: no constructor for kind 'fake'"):
        build_pool(settings, model, model.primary, {"space": factory})


async def test_kafka_queue_names_topics_kafka_can_hold() -> None:
    assert topic_name("alfred:images:", "sdxl.primary") == "alfred.images.sdxl.primary"
    queue = KafkaJobQueue("127.0.0.1:1", "sdxl.primary")  # builds without touching the broker
    assert queue.name == "sdxl.primary"
    await queue.close()
