"""``POST /v1/images/generations`` wire format ⇄ canonical ``ImageRequest``, and the responses.

OpenAI's Images API fields plus Alfred's. With a ``preset``, the preset's field names (e.g.
``weapon_type``, ``element``, ``rarity``, ``style``) may sit at the top level, as in
``{"preset": "weapon", "weapon_type": "sword", "style": "painterly icon"}`` (a preset field wins
over OpenAI's ``style``), or inside ``preset_fields``.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import msgspec

from alfred.errors import InvalidRequestError
from alfred.images.jobs import ImageJob
from alfred.schema.images import ImageRequest

_decoder = msgspec.json.Decoder()

_STRINGS = (
    "prompt",
    "model",
    "size",
    "user",
    "quality",
    "style",
    "preset",
    "negative_prompt",
    "background",
    "webhook_url",
)
_INTS = ("n", "seed", "steps")
_NUMBERS = ("guidance", "wait")
# OpenAI fields Alfred accepts and does not use; they never become preset fields.
_OPENAI_PASSTHROUGH = frozenset(
    {
        "moderation",
        "output_format",
        "output_compression",
        "partial_images",
        "safety_identifier",
        "complexity",
        "frame_count",
        "frame_duration_ms",
        "svg",
        "stream",
    }
)


def _object(body: bytes) -> dict[str, Any]:
    try:
        data = _decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise InvalidRequestError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidRequestError("request body must be a JSON object")
    return data


def parse_image_request(body: bytes, preset_fields: Callable[[str], Collection[str]]) -> ImageRequest:
    """Decode and type-check; ``preset_fields(name)`` names the fields a preset takes."""
    data = _object(body)
    values: dict[str, Any] = {}
    preset = data.get("preset")
    fields_of_preset = set(preset_fields(preset)) if isinstance(preset, str) and preset else set()
    nested = data.get("preset_fields")
    fields: dict[str, Any] = {}
    if nested is not None:
        if not isinstance(nested, dict):
            raise InvalidRequestError("preset_fields: must be an object", param="preset_fields")
        fields.update(nested)
    extra: dict[str, Any] = {}
    for key, value in data.items():
        if key == "preset_fields":
            continue
        if key in fields_of_preset:
            fields[key] = value
        elif key in _STRINGS:
            if value is not None and not isinstance(value, str):
                raise InvalidRequestError(f"{key}: must be a string", param=key)
            values[key] = value
        elif key in _INTS:
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise InvalidRequestError(f"{key}: must be an integer", param=key)
            values[key] = value
        elif key in _NUMBERS:
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise InvalidRequestError(f"{key}: must be a number", param=key)
            values[key] = None if value is None else float(value)
        elif key == "response_format":
            if value not in (None, "url", "b64_json"):
                raise InvalidRequestError("response_format: must be url or b64_json", param=key)
            values[key] = value
        elif key in _OPENAI_PASSTHROUGH or not preset:
            extra[key] = value
        else:
            fields[key] = value  # unknown to the preset: the preset's validation names it
    if extra.get("stream"):
        raise InvalidRequestError(
            "stream: streamed image generation is not supported; use the job events", param="stream"
        )
    if values.get("wait") is not None and values["wait"] < 0:
        raise InvalidRequestError("wait: must be 0 (asynchronous) or a number of seconds", param="wait")
    if values.get("n") is None:
        values.pop("n", None)
    return ImageRequest(**values, preset_fields=fields, extra=extra)


JobBytes = Callable[[ImageJob], Awaitable[list[bytes]]]


async def images_response(job: ImageJob, response_format: str, read: JobBytes) -> dict[str, Any]:
    """The OpenAI Images API body for a finished job (``data`` of urls or base64)."""
    if response_format == "b64_json":
        data: list[dict[str, Any]] = [{"b64_json": base64.b64encode(raw).decode()} for raw in await read(job)]
    else:
        data = [{"url": image.url} for image in job.images]
    if job.preset and not job.privacy:
        for item in data:
            item["revised_prompt"] = job.spec.prompt  # the preset wrote the prompt; say what it was
    return {
        "created": int(job.finished_at or job.created_at),
        "data": data,
        "size": f"{job.spec.width}x{job.spec.height}",
        "alfred": {
            "job_id": job.id,
            "route": job.route.value if job.route else None,
            "cost": job.cost_usd,
            "seed": job.spec.seed,
        },
    }
