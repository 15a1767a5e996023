"""From an ``ImageRequest`` to the canonical ``GenerationSpec``: presets expanded, defaults applied,
text normalised, a seed derived when none is given, and the exact result-cache key.

Equal requests must be equal (the seed's 60% hit rate depends on it), so the canonical form ignores
case, runs of whitespace and field order, and the derived seed is a hash of that canonical form:
the same weapon asked for twice renders, and caches, the same image.
"""

from __future__ import annotations

import hashlib
import unicodedata

import msgspec

from alfred.errors import InvalidRequestError
from alfred.images.presets import PresetBook
from alfred.images.settings import ImageModelSettings
from alfred.schema.images import GenerationSpec, ImageRequest

MAX_PROMPT_CHARS = 4000
MAX_SEED = 2**32 - 1
_canonical_encoder = msgspec.json.Encoder(order="sorted")


class ResolvedRequest(msgspec.Struct, frozen=True):
    """The spec to render plus what the job records about how it was derived."""

    spec: GenerationSpec
    preset: str | None
    preset_fields: dict[str, str]
    seed_derived: bool
    canonical: bytes  # the canonical request without the seed (what the derived seed hashes)


class _Canonical(msgspec.Struct):
    """The canonical request, encoded with sorted keys: the same bytes as the equivalent dict, built
    and encoded faster. Never change a name or add a field without migrating the cache keys."""

    background: str | None
    guidance: float
    height: int
    model: str
    n: int
    negative_prompt: str
    preset: str | None
    preset_fields: dict[str, str]
    prompt: str
    steps: int
    width: int


def normalise_text(text: str) -> str:
    """Unicode NFKC and single spaces; case is kept for the model (the cache key folds it)."""
    if not text.isascii():  # ASCII is already NFKC: most prompts skip the normaliser's scan
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.split())


def _side(digits: str) -> bool:
    # what the former pattern's \d{2,5} matched: 2 to 5 Unicode decimal digits
    return 2 <= len(digits) <= 5 and digits.isdecimal()


def _parse_size(size: str, param: str = "size") -> tuple[int, int]:
    # split by hand, not with a regex
    width_text, x, height_text = size.strip().lower().partition("x")
    if not (x and _side(width_text) and _side(height_text)):
        raise InvalidRequestError(
            f"{param}: expected WIDTHxHEIGHT such as 1024x1024, got {size!r}", param=param
        )
    width, height = int(width_text), int(height_text)
    if width < 64 or height < 64 or width % 8 or height % 8:
        raise InvalidRequestError(f"{param}: sides must be multiples of 8 and at least 64", param=param)
    return width, height


def _join(*parts: str) -> str:
    return ", ".join(p for p in parts if p)


def resolve_request(
    request: ImageRequest,
    model: ImageModelSettings,
    presets: PresetBook,
    *,
    max_images: int = 10,
    max_pixels: int = 2048 * 2048,
) -> ResolvedRequest:
    """Validate and canonicalise; every error names the request field at fault."""
    if not 1 <= request.n <= max_images:
        raise InvalidRequestError(f"n: must be between 1 and {max_images}", param="n")
    if request.seed is not None and not 0 <= request.seed <= MAX_SEED:
        raise InvalidRequestError(f"seed: must be between 0 and {MAX_SEED}", param="seed")
    if request.steps is not None and not 1 <= request.steps <= 200:
        raise InvalidRequestError("steps: must be between 1 and 200", param="steps")
    if request.guidance is not None and not 0 <= request.guidance <= 50:
        raise InvalidRequestError("guidance: must be between 0 and 50", param="guidance")
    if request.background not in (None, "auto", "opaque", "transparent"):
        raise InvalidRequestError("background: must be transparent, opaque or auto", param="background")
    negative = normalise_text(request.negative_prompt or "")
    size = request.size if request.size not in (None, "auto") else None
    preset_name: str | None = None
    preset_fields: dict[str, str] = {}
    if request.preset:
        if request.prompt:
            raise InvalidRequestError(
                "prompt: not allowed with a preset (the preset writes it)", param="prompt"
            )
        expanded = presets.expand(request.preset, request.preset_fields)
        if size is not None and _parse_size(size) != (expanded.width, expanded.height):
            raise InvalidRequestError(
                f"size: preset {expanded.name!r} fixes the size at {expanded.width}x{expanded.height}",
                param="size",
            )
        preset_name, preset_fields = expanded.name, expanded.fields
        prompt = expanded.prompt
        negative = _join(expanded.negative_prompt, negative)
        width, height = expanded.width, expanded.height
        steps = request.steps or expanded.steps or model.steps
        guidance = request.guidance if request.guidance is not None else expanded.guidance
        background = request.background or expanded.background
    else:
        if request.preset_fields:
            name = next(iter(request.preset_fields))
            raise InvalidRequestError(f"{name}: preset fields need a preset", param=name)
        prompt = normalise_text(request.prompt or "")
        if not prompt:
            raise InvalidRequestError("prompt: required (or give a preset)", param="prompt")
        width, height = _parse_size(size or model.size)
        steps = request.steps or model.steps
        guidance = request.guidance
        background = request.background
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequestError(f"prompt: longer than {MAX_PROMPT_CHARS} characters", param="prompt")
    if width * height > max_pixels:
        raise InvalidRequestError(f"size: more than {max_pixels} pixels", param="size")
    spec_background = "transparent" if background == "transparent" else None
    guidance = guidance if guidance is not None else model.guidance
    canonical = _canonical_encoder.encode(
        _Canonical(
            model=model.name,
            prompt=prompt.casefold(),
            negative_prompt=negative.casefold(),
            preset=preset_name,
            preset_fields=preset_fields,
            width=width,
            height=height,
            steps=steps,
            guidance=guidance,
            n=request.n,
            background=spec_background,
        )
    )
    seed = request.seed if request.seed is not None else derive_seed(canonical)
    spec = GenerationSpec(
        prompt=prompt,
        negative_prompt=negative,
        model=model.name,
        width=width,
        height=height,
        steps=steps,
        guidance=guidance,
        seed=seed,
        n=request.n,
        background=spec_background,
    )
    return ResolvedRequest(spec, preset_name, preset_fields, request.seed is None, canonical)


def derive_seed(canonical: bytes) -> int:
    """A seed that is a pure function of the canonical request (so equal requests render equally)."""
    return int.from_bytes(hashlib.sha256(b"alfred-seed\0" + canonical).digest()[:4], "big")


def cache_key(tenant: str, resolved: ResolvedRequest) -> str:
    """The exact result-cache key: tenant, canonical request and seed (tenants never share entries)."""
    tenant_bytes, canonical, seed = tenant.encode(), resolved.canonical, str(resolved.spec.seed).encode()
    # each part preceded by its length (8 bytes, big-endian), hashed in one call
    framed = b"".join(
        (
            len(tenant_bytes).to_bytes(8, "big"),
            tenant_bytes,
            len(canonical).to_bytes(8, "big"),
            canonical,
            len(seed).to_bytes(8, "big"),
            seed,
        )
    )
    return hashlib.sha256(framed).hexdigest()
