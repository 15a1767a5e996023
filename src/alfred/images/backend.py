"""The seam between the image pipeline and whatever renders pixels.

Self-hosted backends (a local diffusers pipeline, a Hugging Face Space over gradio_client) and paid
APIs (Replicate, OpenAI Images) all implement ``ImageBackend``. The pipeline never knows which.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from alfred.schema.images import GeneratedImage, GenerationSpec

# progress(fraction 0..1, message): backends call it as work advances; it must be cheap.
ProgressCallback = Callable[[float, str], Awaitable[None]]


class ImageBackend(Protocol):
    """Renders a generation spec into images. Raises ``alfred.errors.AlfredError`` on failure."""

    name: str  # the configured backend name, e.g. "space-1", "replicate"
    kind: str  # "diffusers" | "space" | "replicate" | "openai-images" | "mock"

    async def generate(self, spec: GenerationSpec, progress: ProgressCallback) -> list[GeneratedImage]: ...

    async def cancel(self) -> None:
        """Abandon the generation in flight, if the backend can (Replicate: cancel the prediction)."""
        ...

    async def close(self) -> None: ...
