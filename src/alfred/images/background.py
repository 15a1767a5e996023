"""The ``background: transparent`` step: after generation, before storage, cut the subject out.

Pluggable: a ``BackgroundRemover`` turns image bytes into an RGBA PNG. Config picks one with
``images.background_removal``: ``rembg`` (a segmentation model, the ``images-bg`` extra), ``border``
(numpy and Pillow only: the plain background around a game icon, see ``background_border``), or
``auto`` (rembg when its weights are already on disk, else border; decided once, at first use).
Removal is CPU work, so it runs on a thread and never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal, Protocol

from alfred.errors import ServiceUnavailableError
from alfred.images.background_rembg import RembgBackgroundRemover, rembg_installed, weights_present
from alfred.images.worker import PostProcess
from alfred.schema.images import GeneratedImage, GenerationSpec

log = logging.getLogger("alfred.images.background")

Method = Literal["auto", "rembg", "border"]


class BackgroundRemover(Protocol):
    """Makes an image's background transparent: image bytes in, RGBA PNG bytes out (blocking)."""

    name: str

    def remove(self, data: bytes) -> bytes: ...


def choose_remover(method: Method, rembg_model: str = "u2net") -> BackgroundRemover:
    """The remover ``method`` names; ``auto`` never picks rembg when it would have to download."""
    if method == "rembg":
        if not rembg_installed():
            raise ServiceUnavailableError(
                "background removal is set to rembg, which is not installed "
                "(pip install 'alfred-gateway[images-bg]')"
            )
        return RembgBackgroundRemover(rembg_model)
    if method == "auto" and weights_present(rembg_model):
        return RembgBackgroundRemover(rembg_model)
    try:
        import numpy  # noqa: F401  (the border method needs numpy and Pillow)
        import PIL  # noqa: F401

        from alfred.images.background_border import BorderBackgroundRemover
    except ImportError as exc:
        raise ServiceUnavailableError(
            f"background removal needs numpy and Pillow ({exc}); pip install 'alfred-gateway[images-bg]'"
        ) from exc
    return BorderBackgroundRemover()


class BackgroundRemoval:
    """The post-processing step; the remover is chosen on the first transparent request."""

    def __init__(self, method: Method = "auto", rembg_model: str = "u2net") -> None:
        self._method = method
        self._rembg_model = rembg_model
        self._remover: BackgroundRemover | None = None
        self._choosing = asyncio.Lock()

    async def remover(self) -> BackgroundRemover:
        async with self._choosing:
            if self._remover is None:
                # Importing rembg and probing its weights touches the disk: off the loop.
                self._remover = await asyncio.to_thread(choose_remover, self._method, self._rembg_model)
                log.info("background removal uses %s", self._remover.name)
            return self._remover

    async def __call__(self, spec: GenerationSpec, images: list[GeneratedImage]) -> list[GeneratedImage]:
        if spec.background != "transparent":
            return images
        remover = await self.remover()
        out = []
        for image in images:
            data = await asyncio.to_thread(remover.remove, image.data)
            out.append(GeneratedImage(data, "image/png"))
        return out


def background_postprocess(method: Method = "auto", rembg_model: str = "u2net") -> PostProcess:
    return BackgroundRemoval(method, rembg_model)
