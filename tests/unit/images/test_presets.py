from __future__ import annotations

from pathlib import Path

import pytest

from alfred.errors import InvalidRequestError
from alfred.images.presets import PresetBook, canonical_value

WEAPON = {"weapon_type": "sword", "element": "fire", "rarity": "legendary", "style": "painterly icon"}


def test_weapon_preset_expands_into_prompt_negative_prompt_and_fixed_size() -> None:
    expanded = PresetBook.builtin().expand("weapon", WEAPON)
    assert expanded.name == "weapon"
    assert expanded.fields == {
        "element": "fire",
        "rarity": "legendary",
        "style": "painterly icon",
        "weapon_type": "sword",
    }
    # the words each value maps to, in the template's order
    assert expanded.prompt.startswith(
        "hand-painted fantasy game icon, painterly brush strokes, a single longsword"
    )
    assert "glowing runes" in expanded.prompt and "wreathed in flickering flames" in expanded.prompt
    assert "watermark" in expanded.negative_prompt and "multiple weapons" in expanded.negative_prompt
    assert (expanded.width, expanded.height, expanded.steps) == (1024, 1024, 30)


def test_canonicalisation_makes_equal_requests_equal() -> None:
    book = PresetBook.builtin()
    messy = {"Style": "  Painterly_ICON ", "RARITY": "Legendary", "element": "FIRE", "weapon-type": "Sword"}
    assert book.expand(" Weapon ", messy) == book.expand("weapon", WEAPON)
    assert canonical_value("  Two-Handed_  Sword ") == "two handed sword"


def test_defaults_fill_missing_fields_and_an_empty_choice_leaves_no_gap() -> None:
    expanded = PresetBook.builtin().expand("weapon", {"weapon_type": "axe"})
    assert expanded.fields == {
        "element": "none",
        "rarity": "common",
        "style": "painterly icon",
        "weapon_type": "axe",
    }
    assert ", ," not in expanded.prompt and "none" not in expanded.prompt.split(", ")
    assert "battle axe" in expanded.prompt


@pytest.mark.parametrize(
    ("preset", "fields", "param", "words"),
    [
        ("weapon", {"element": "fire"}, "weapon_type", "required"),
        ("weapon", {"weapon_type": "banana"}, "weapon_type", "'banana' is not one of"),
        ("weapon", {"weapon_type": "sword", "colour": "red"}, "colour", "unknown field"),
        ("weapon", {"weapon_type": 3}, "weapon_type", "must be a string"),
        ("armour", {"weapon_type": "sword"}, "preset", "unknown preset"),
    ],
)
def test_validation_errors_name_the_field(
    preset: str, fields: dict[str, object], param: str, words: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        PresetBook.builtin().expand(preset, fields)
    assert caught.value.param == param
    assert words in caught.value.message
    assert caught.value.status == 400


def test_presets_load_from_a_yaml_file(tmp_path: Path) -> None:
    file = tmp_path / "presets.yaml"
    file.write_text(
        """
potion:
  size: 512x512
  prompt: "{colour} potion bottle, {shape}, game icon"
  negative_prompt: text
  fields:
    colour: {required: true, choices: [red, blue, green]}
    shape: {default: round flask, choices: {round flask: "round glass flask", vial: "thin vial"}}
""",
        encoding="utf-8",
    )
    book = PresetBook.load(file)
    assert book.names() == ["potion"]
    expanded = book.expand("potion", {"colour": "Blue"})
    assert expanded.prompt == "blue potion bottle, round glass flask, game icon"
    assert (expanded.width, expanded.height) == (512, 512)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"prompt": "{nope}", "fields": {"a": {"choices": ["x"]}}}, "{nope}"),
        ({"prompt": "{a}", "fields": {"a": {"default": "y", "choices": ["x"]}}}, "default"),
        ({"prompt": "{a}", "fields": {"a": {"choices": ["x"]}}, "sizes": "1x1"}, "sizes"),
    ],
)
def test_bad_preset_definitions_are_refused_naming_the_preset(body: dict[str, object], words: str) -> None:
    with pytest.raises(ValueError, match="preset 'broken'") as caught:
        PresetBook.from_mapping({"broken": body})
    assert words in str(caught.value)
