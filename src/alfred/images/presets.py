"""Game-asset presets: structured fields (weapon type, element, rarity, style) → prompt and negative prompt.

A preset fixes size, steps and style so every asset of a game looks like one set. Its fields take
values from fixed lists; values are canonicalised (case, whitespace, ``_``/``-``, field order) so
equal requests are equal, which is what makes the result cache hit. Definitions come from YAML: the
built-in ``presets.yaml`` (weapons) or ``images.presets_file``. Errors name the field at fault.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alfred.errors import InvalidRequestError

_SEPARATORS = re.compile(r"[\s_\-]+")
_SIZE = re.compile(r"^(\d{2,5})x(\d{2,5})$")


def canonical_value(value: str) -> str:
    """``"  Fire_Sword "`` → ``"fire sword"``: the form values are compared and cached in."""
    return _SEPARATORS.sub(" ", value).strip().casefold()


class PresetField(BaseModel):
    """One field of a preset: its allowed values (each optionally mapped to prompt words)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    required: bool = False
    default: str | None = None
    choices: dict[str, str] = Field(min_length=1)

    @field_validator("choices", mode="before")
    @classmethod
    def _list_or_map(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {str(v): str(v) for v in value}
        if isinstance(value, dict):
            return {str(k): "" if v is None else str(v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _canonical(self) -> PresetField:
        choices = {canonical_value(k): v for k, v in self.choices.items()}
        object.__setattr__(self, "choices", choices)
        if self.default is not None:
            default = canonical_value(self.default)
            if default not in choices:
                raise ValueError(f"default {self.default!r} is not one of its choices")
            object.__setattr__(self, "default", default)
        if self.required and self.default is not None:
            raise ValueError("a required field has no default")
        return self


class PresetDefinition(BaseModel):
    """A preset: a prompt template over its fields, a negative prompt, and the fixed generation settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    prompt: str = Field(min_length=1)
    negative_prompt: str = ""
    size: str = Field("1024x1024", pattern=_SIZE.pattern)
    steps: int | None = Field(None, ge=1, le=200)
    guidance: float | None = Field(None, ge=0, le=50)
    background: str | None = None
    fields: dict[str, PresetField] = Field(min_length=1)

    @model_validator(mode="after")
    def _template_names_fields(self) -> PresetDefinition:
        for _, name, spec, conversion in string.Formatter().parse(self.prompt):
            if name is not None and name not in self.fields:
                raise ValueError(f"prompt template names {{{name}}}, which is not a field")
            if spec or conversion:  # "{a!x}", "{a:d}", "{a:{b}}" would fail (or balloon) at request time
                raise ValueError(f"prompt template field {{{name}}} takes no format spec or conversion")
        return self


@dataclass(frozen=True, slots=True)
class ExpandedPreset:
    """A preset applied to a request's fields: canonical fields and everything the spec needs."""

    name: str
    fields: dict[str, str]  # canonical values, sorted by field name
    prompt: str
    negative_prompt: str
    width: int
    height: int
    steps: int | None
    guidance: float | None
    background: str | None


def _tidy(text: str) -> str:
    """Join the template's comma-separated parts, dropping the ones an empty value left blank."""
    parts = (" ".join(part.split()) for part in text.split(","))
    return ", ".join(part for part in parts if part)


class PresetBook:
    """The configured presets by name."""

    def __init__(self, presets: Mapping[str, PresetDefinition]) -> None:
        self._presets = dict(presets)

    @classmethod
    def from_mapping(cls, raw: Any, where: str = "presets") -> PresetBook:
        if not isinstance(raw, dict):
            raise ValueError(f"{where}: the top level must map preset names to definitions")
        presets: dict[str, PresetDefinition] = {}
        for name, body in raw.items():
            try:
                presets[canonical_value(str(name))] = PresetDefinition.model_validate(body)
            except ValidationError as exc:
                first = exc.errors()[0]
                loc = ".".join(str(p) for p in first["loc"])
                raise ValueError(f"{where}: preset {name!r}: {loc}: {first['msg']}") from exc
        return cls(presets)

    @classmethod
    def load(cls, path: str | Path) -> PresetBook:
        file = Path(path)
        return cls.from_mapping(yaml.safe_load(file.read_text(encoding="utf-8")), str(file))

    @classmethod
    def builtin(cls) -> PresetBook:
        text = resources.files("alfred.images").joinpath("presets.yaml").read_text("utf-8")
        return cls.from_mapping(yaml.safe_load(text), "alfred/images/presets.yaml")

    def names(self) -> list[str]:
        return sorted(self._presets)

    def get(self, name: str) -> PresetDefinition | None:
        return self._presets.get(canonical_value(name))

    def expand(self, name: str, fields: Mapping[str, Any]) -> ExpandedPreset:
        """Validate ``fields`` against the preset and build its prompt; errors name the field."""
        key = canonical_value(name)
        preset = self._presets.get(key)
        if preset is None:
            known = ", ".join(self.names()) or "none"
            raise InvalidRequestError(f"unknown preset {name!r} (known: {known})", param="preset")
        given: dict[str, Any] = {}
        for raw_name, value in fields.items():
            field_name = canonical_value(str(raw_name)).replace(" ", "_")
            if field_name not in preset.fields:
                known = ", ".join(sorted(preset.fields))
                raise InvalidRequestError(
                    f"{raw_name}: unknown field for preset {key!r} (fields: {known})", param=str(raw_name)
                )
            given[field_name] = value
        values: dict[str, str] = {}
        for field_name, spec in sorted(preset.fields.items()):
            value = given.get(field_name)
            if value is None:
                if spec.required:
                    raise InvalidRequestError(f"{field_name}: required by preset {key!r}", param=field_name)
                values[field_name] = spec.default or ""
                continue
            if not isinstance(value, str):
                raise InvalidRequestError(f"{field_name}: must be a string", param=field_name)
            canonical = canonical_value(value)
            if canonical not in spec.choices:
                allowed = ", ".join(spec.choices)
                raise InvalidRequestError(
                    f"{field_name}: {value!r} is not one of: {allowed}", param=field_name
                )
            values[field_name] = canonical
        words = {name_: preset.fields[name_].choices.get(v, "") for name_, v in values.items()}
        match = _SIZE.match(preset.size)
        assert match is not None  # validated by the model
        return ExpandedPreset(
            name=key,
            fields=values,
            prompt=_tidy(preset.prompt.format(**words)),
            negative_prompt=_tidy(preset.negative_prompt),
            width=int(match.group(1)),
            height=int(match.group(2)),
            steps=preset.steps,
            guidance=preset.guidance,
            background=preset.background,
        )
