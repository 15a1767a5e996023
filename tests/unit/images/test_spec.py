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


# Cache keys and derived seeds are persisted (result-cache entries in Redis/S3, recorded jobs): these
# values were computed before spec.py was made cheaper, and must never change.
PINNED: list[tuple[dict[str, object], int, str]] = [
    (
        {"prompt": "a red dragon"},
        2789934204,
        "9c7c55abe6f6e03d10e86efdd7dae3dd43c502ae32bf265cd7c6cb8ce06dbf5f",  # pragma: allowlist secret (a pinned cache key)
    ),
    (
        {
            "prompt": "  \uff26\uff55\uff4c\uff4c\u3000width  \ufb01re\tsword ",  # full-width letters, a ligature
            "negative_prompt": " blurry,  text ",
            "size": "256X256",
            "n": 2,
        },
        3443116149,
        "96d07cb133cfba3862311d2cebb38677b9864763b509dc7252e54b8761b3a921",  # pragma: allowlist secret (a pinned cache key)
    ),
    (
        {"prompt": "icon", "background": "transparent", "steps": 12, "guidance": 7.5, "seed": 42},
        42,
        "05245d5ed8a36a3c64abc76c5c5b1801bbee9d6bc47d579e4a9a1ea9df74ae25",  # pragma: allowlist secret (a pinned cache key)
    ),
    (
        {
            "preset": "weapon",
            "preset_fields": {"weapon_type": "sword", "element": "fire", "rarity": "legendary"},
        },
        130546581,
        "5c26800804abc3b30e960532f9931f5c547a7586de106c0bf1940c2da7f3f987",  # pragma: allowlist secret (a pinned cache key)
    ),
    (
        {
            "preset": "weapon",
            "preset_fields": {"weapon_type": "bow", "style": "pixel art"},
            "seed": 123456789,
            "negative_prompt": "red",
        },
        123456789,
        "7ade95f3118c2cceeb98cd83f15381ba59109f2a714b75d39afda1a62a3085d3",  # pragma: allowlist secret (a pinned cache key)
    ),
]


@pytest.mark.parametrize(("fields", "seed", "key"), PINNED)
def test_seeds_and_cache_keys_are_pinned(fields: dict[str, object], seed: int, key: str) -> None:
    resolved = resolve(**fields)
    assert (resolved.spec.seed, cache_key("game", resolved)) == (seed, key)


def test_the_canonical_form_and_derive_seed_are_pinned() -> None:
    assert resolve(prompt="  A  Red\tDragon ").canonical == (
        b'{"background":null,"guidance":5.0,"height":512,"model":"sdxl","n":1,"negative_prompt":"",'
        b'"preset":null,"preset_fields":{},"prompt":"a red dragon","steps":4,"width":512}'
    )
    assert (derive_seed(b""), derive_seed(b'{"a":1}')) == (1798438164, 3867340655)
