"""Canonical image types: the OpenAI Images API request plus Alfred's fields, and the job it becomes."""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import Struct


class ImageRequest(Struct, kw_only=True, omit_defaults=True):
    """``POST /v1/images/generations`` (OpenAI-compatible) with Alfred's additions."""

    prompt: str | None = None
    model: str | None = None
    n: int = 1
    size: str | None = None  # "1024x1024"
    response_format: str | None = None  # "url" | "b64_json"
    user: str | None = None
    quality: str | None = None
    style: str | None = None
    # Alfred's fields
    preset: str | None = None
    preset_fields: dict[str, Any] = msgspec.field(default_factory=dict)  # e.g. weapon_type, element, rarity
    negative_prompt: str | None = None
    seed: int | None = None
    steps: int | None = None
    guidance: float | None = None
    background: str | None = None  # "transparent" for icons
    wait: float | None = None  # seconds to wait synchronously; 0 = async (202 + job id)
    webhook_url: str | None = None
    extra: dict[str, Any] = msgspec.field(default_factory=dict)


class GenerationSpec(Struct, frozen=True, kw_only=True):
    """What a backend must render: the canonical, fully resolved generation (presets expanded)."""

    prompt: str
    negative_prompt: str = ""
    model: str  # the upstream/backend model id
    width: int = 1024
    height: int = 1024
    steps: int = 30
    guidance: float = 5.0
    seed: int = 0
    n: int = 1
    background: str | None = None


class GeneratedImage(Struct, frozen=True):
    """One rendered image: encoded bytes and their media type."""

    data: bytes
    media_type: str = "image/png"
