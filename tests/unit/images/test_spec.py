from __future__ import annotations

import pytest

from alfred.errors import InvalidRequestError
from alfred.images.presets import PresetBook
from alfred.images.spec import cache_key, derive_seed, resolve_request
from alfred.schema.images import ImageRequest
from tests.unit.images.harness import image_settings

SETTINGS = image_settings()
MODEL = SETTINGS.models[0]
BOOK = PresetBook.builtin()


def resolve(**fields: object):  # type: ignore[no-untyped-def]
    return resolve_request(ImageRequest(**fields), MODEL, BOOK)  # type: ignore[arg-type]


def test_plain_prompt_gets_model_defaults_and_a_derived_seed() -> None:
    resolved = resolve(prompt="  a  red\tdragon  ")
    spec = resolved.spec
    assert spec.prompt == "a red dragon"
    assert (spec.width, spec.height, spec.steps, spec.guidance, spec.n) == (512, 512, 4, 5.0, 1)
    assert resolved.seed_derived and spec.seed == derive_seed(resolved.canonical)
    assert 0 <= spec.seed < 2**32


def test_equal_requests_are_equal_and_different_ones_differ() -> None:
    a = resolve(prompt="A Red Dragon")
    b = resolve(prompt="a   red dragon")
    c = resolve(prompt="a blue dragon")
    d = resolve(prompt="a red dragon", size="256x256")
    assert a.spec.seed == b.spec.seed and cache_key("t", a) == cache_key("t", b)
    assert len({a.spec.seed, c.spec.seed, d.spec.seed}) == 3
    assert cache_key("t", a) != cache_key("other-tenant", a)  # tenants never share cache entries


def test_an_explicit_seed_is_kept_and_is_part_of_the_key() -> None:
    a = resolve(prompt="dragon", seed=7)
    b = resolve(prompt="dragon", seed=8)
    assert (a.spec.seed, a.seed_derived) == (7, False)
    assert cache_key("t", a) != cache_key("t", b)


def test_preset_requests_canonicalise_across_case_spacing_and_order() -> None:
    a = resolve(
        preset="weapon", preset_fields={"weapon_type": "sword", "element": "fire", "rarity": "legendary"}
    )
    b = resolve(
        preset="WEAPON", preset_fields={"rarity": " Legendary", "element": "Fire ", "weapon_type": "SWORD"}
    )
    assert a.spec == b.spec and cache_key("t", a) == cache_key("t", b)
    assert a.preset == "weapon" and a.preset_fields["rarity"] == "legendary"
    assert (a.spec.width, a.spec.height, a.spec.steps) == (1024, 1024, 30)
    assert "text" in a.spec.negative_prompt


def test_request_negative_prompt_is_added_to_the_presets() -> None:
    resolved = resolve(preset="weapon", preset_fields={"weapon_type": "bow"}, negative_prompt="red")
    assert resolved.spec.negative_prompt.endswith(", red")


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "x", "n": 0}, "n"),
        ({"prompt": "x", "n": 11}, "n"),
        ({"prompt": "x", "size": "big"}, "size"),
        ({"prompt": "x", "size": "100x100"}, "size"),
        ({"prompt": "x", "size": "4096x4096"}, "size"),
        ({"prompt": "x", "seed": -1}, "seed"),
        ({"prompt": "x", "steps": 0}, "steps"),
        ({"prompt": "x", "background": "green"}, "background"),
        ({"prompt": "x" * 4001}, "prompt"),
        ({"preset": "weapon", "preset_fields": {"weapon_type": "axe"}, "prompt": "x"}, "prompt"),
        ({"preset": "weapon", "preset_fields": {"weapon_type": "axe"}, "size": "512x512"}, "size"),
        ({"prompt": "x", "preset_fields": {"rarity": "rare"}}, "rarity"),
    ],
)
def test_invalid_requests_name_the_field(fields: dict[str, object], param: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        resolve(**fields)
    assert caught.value.param == param


def test_transparent_background_reaches_the_spec() -> None:
    assert resolve(prompt="icon", background="transparent").spec.background == "transparent"
    assert resolve(prompt="icon", background="opaque").spec.background is None
