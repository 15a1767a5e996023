"""Background removal: the border method on synthetic icons, the choice of remover, the worker step."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from alfred.errors import UnprocessableError
from alfred.images.background import BackgroundRemoval, choose_remover
from alfred.images.background_border import BorderBackgroundRemover
from alfred.images.background_rembg import RembgBackgroundRemover
from alfred.schema.images import GeneratedImage, GenerationSpec

np = pytest.importorskip("numpy")
Image = pytest.importorskip("PIL.Image")

SIZE = 128
BACKGROUND = (200, 205, 210)


def icon(
    *, noise: float = 0.0, background: tuple[int, int, int] = BACKGROUND, seed: int = 3
) -> tuple[bytes, Any]:
    """A sword-ish icon: an anti-aliased red disc with a background-coloured hole, and a blade.

    Returns the PNG and the true subject mask (the hole counts as subject: it is enclosed).
    """
    scale = 4  # supersampled, then averaged: real anti-aliased edges
    n = SIZE * scale
    y, x = np.mgrid[0:n, 0:n] / scale
    disc = (x - 64) ** 2 + (y - 56) ** 2 <= 30**2
    hole = (x - 64) ** 2 + (y - 56) ** 2 <= 8**2
    blade = (abs(x - 64) <= 4) & (y >= 80) & (y <= 118)
    subject_hi = disc | blade
    colour = np.empty((n, n, 3), dtype=np.float64)
    colour[...] = background
    colour[subject_hi] = (180, 30, 20)
    colour[blade] = (90, 90, 100)
    colour[hole] = background  # same colour as the background, but enclosed by the subject
    small = colour.reshape(SIZE, scale, SIZE, scale, 3).mean(axis=(1, 3))
    rng = np.random.default_rng(seed)
    small += rng.normal(0.0, noise, small.shape)
    data = np.clip(np.rint(small), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(data, "RGB").save(buffer, format="PNG")
    truth = subject_hi.reshape(SIZE, scale, SIZE, scale).mean(axis=(1, 3))
    return buffer.getvalue(), truth


def alpha_of(png: bytes) -> Any:
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        assert image.mode == "RGBA"  # alpha is stored in the file
        return np.asarray(image)[..., 3].astype(int)


@pytest.mark.parametrize("noise", [0.0, 6.0], ids=["solid", "noisy"])
def test_the_background_goes_and_the_subject_stays(noise: float) -> None:
    png, truth = icon(noise=noise)
    alpha = alpha_of(BorderBackgroundRemover().remove(png))
    background, subject = truth == 0, truth == 1
    assert (alpha[background] == 0).mean() >= 0.99
    assert (alpha[subject] == 255).mean() >= 0.99
    assert alpha[0, 0] == alpha[-1, -1] == alpha[0, -1] == alpha[-1, 0] == 0
    assert alpha[56, 64] == 255  # the enclosed hole has the background's colour but is kept
    edge = (truth > 0.2) & (truth < 0.8)
    assert edge.any() and ((alpha[edge] > 0) & (alpha[edge] < 255)).mean() >= 0.5  # a soft edge


def test_fringe_pixels_lose_the_background_colour() -> None:
    png, truth = icon(background=(0, 255, 0))
    with Image.open(io.BytesIO(BorderBackgroundRemover().remove(png))) as image:
        rgba = np.asarray(image).astype(int)
    edge = (truth > 0.3) & (truth < 0.7) & (rgba[..., 3] > 0)
    assert edge.any()
    # Half-green blends become red again (the subject's own colour), with partial alpha.
    assert np.median(rgba[edge][:, 1]) < 80


def test_a_scene_without_a_plain_background_is_refused() -> None:
    rng = np.random.default_rng(1)
    scene = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(scene, "RGB").save(buffer, format="PNG")
    with pytest.raises(UnprocessableError, match="no plain background"):
        BorderBackgroundRemover().remove(buffer.getvalue())


def test_auto_uses_rembg_only_when_its_weights_are_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("rembg")
    monkeypatch.setenv("U2NET_HOME", str(tmp_path))
    assert choose_remover("auto", "u2net").name == "border"  # no weights here: no download attempt
    assert isinstance(choose_remover("rembg", "u2net"), RembgBackgroundRemover)  # explicit: downloads
    weights = tmp_path / "models" / "u2net" / "u2net.onnx"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"not really weights; only their presence is probed")
    assert choose_remover("auto", "u2net").name == "rembg"
    with pytest.raises(ValueError, match="no model"):
        choose_remover("auto", "no-such-model")


async def test_the_step_touches_only_transparent_requests() -> None:
    png, _ = icon()
    step = BackgroundRemoval("border")
    image = GeneratedImage(png, "image/png")
    opaque = GenerationSpec(prompt="sword", model="m")
    assert await step(opaque, [image]) == [image]
    transparent = GenerationSpec(prompt="sword", model="m", background="transparent")
    [cut] = await step(transparent, [image])
    assert cut.media_type == "image/png"
    assert alpha_of(cut.data)[0, 0] == 0


class IconBackend:
    """Renders the synthetic icon for every image asked for."""

    kind = "fake"

    def __init__(self, name: str) -> None:
        self.name = name

    async def generate(self, spec: GenerationSpec, progress: Any) -> list[GeneratedImage]:
        return [GeneratedImage(icon()[0]) for _ in range(spec.n)]

    async def cancel(self) -> None:
        return None

    async def close(self) -> None:
        return None


async def test_a_transparent_job_stores_pngs_with_alpha() -> None:
    from alfred.images.build import build_image_service
    from alfred.schema.images import ImageRequest
    from alfred.state import memory_backend
    from tests.unit.images.fakes import MemoryBlobStore
    from tests.unit.images.harness import image_settings

    blobs = MemoryBlobStore()
    runtime = build_image_service(
        image_settings(),
        blobs=blobs,
        state=memory_backend(),
        backend_factories={"fake": lambda name, settings: IconBackend(name)},
        postprocess=BackgroundRemoval("border"),
        consumer="test",
    )
    await runtime.start()
    try:
        service = runtime.service
        cut = await service.submit("t", ImageRequest(prompt="a sword icon", background="transparent"))
        kept = await service.submit("t", ImageRequest(prompt="a sword icon"))
        cut, kept = await service.wait("t", cut.id, 30), await service.wait("t", kept.id, 30)
    finally:
        await runtime.stop(grace_s=1)
    assert alpha_of(await blobs.get(cut.images[0].key))[0, 0] == 0
    with Image.open(io.BytesIO(await blobs.get(kept.images[0].key))) as image:
        assert image.mode == "RGB"  # an opaque request is stored as rendered
