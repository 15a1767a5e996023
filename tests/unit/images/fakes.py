"""Small honest fakes of the image pipeline's seams: an ImageBackend that renders real (tiny) PNGs,
an in-memory content-addressed BlobStore, and a virtual clock. The real backends and stores plug in
through the same protocols (alfred.images.backend, alfred.storage.blobs)."""

from __future__ import annotations

import asyncio
import hashlib
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from alfred.errors import AlfredError, NotFoundError
from alfred.images.backend import ProgressCallback
from alfred.images.settings import BackendSettings
from alfred.schema.images import GeneratedImage, GenerationSpec
from alfred.storage.blobs import StoredBlob

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_bytes(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid solid-colour RGB PNG (signature, IHDR, IDAT, IEND with CRCs)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    row = b"\x00" + bytes(rgb) * width
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


class VirtualClock:
    """Time that moves only when told."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeBackend:
    """Renders ``spec.n`` tiny PNGs whose colour is a function of (prompt, seed, index).

    ``gate`` (when set) holds every generation until it is opened; ``fail`` raises instead;
    ``work_s`` is simulated generation time. Calls and cancels are recorded.
    """

    name: str
    kind: str = "fake"
    work_s: float = 0.0
    gate: asyncio.Event | None = None
    fail: AlfredError | Exception | None = None
    size: int = 8
    calls: list[GenerationSpec] = field(default_factory=list)
    cancels: int = 0
    started: asyncio.Event = field(default_factory=asyncio.Event)
    fail_when: Callable[[GenerationSpec], AlfredError | None] | None = None

    async def generate(self, spec: GenerationSpec, progress: ProgressCallback) -> list[GeneratedImage]:
        self.calls.append(spec)
        self.started.set()
        await progress(0.0, "started")
        if self.gate is not None:
            await self.gate.wait()
        if self.work_s:
            await asyncio.sleep(self.work_s / 2)
            await progress(0.5, "half way")
            await asyncio.sleep(self.work_s / 2)
        if self.fail is not None:
            raise self.fail
        if self.fail_when is not None and (error := self.fail_when(spec)) is not None:
            raise error
        await progress(1.0, "done")
        images = []
        for index in range(spec.n):
            digest = hashlib.sha256(f"{spec.prompt}|{spec.seed}|{index}".encode()).digest()
            images.append(GeneratedImage(png_bytes(self.size, self.size, (digest[0], digest[1], digest[2]))))
        return images

    async def cancel(self) -> None:
        self.cancels += 1

    async def close(self) -> None:
        return None


class FakeBackends:
    """A factory per kind that hands out named FakeBackends and remembers them (for assertions)."""

    def __init__(self, **defaults: Any) -> None:
        self.defaults = defaults
        self.made: dict[str, list[FakeBackend]] = {}
        self.overrides: dict[str, dict[str, Any]] = {}

    def __call__(self, name: str, settings: BackendSettings) -> FakeBackend:
        options = {**self.defaults, **self.overrides.get(name, {})}
        backend = FakeBackend(name=name, kind=settings.kind, **options)
        self.made.setdefault(name, []).append(backend)
        return backend

    def calls(self, name: str) -> int:
        return sum(len(b.calls) for b in self.made.get(name, []))

    def all(self, name: str) -> list[FakeBackend]:
        return self.made.get(name, [])


class MemoryBlobStore:
    """Content-addressed objects in a dict, served from a pretend CDN base URL."""

    def __init__(self, base_url: str = "https://cdn.test") -> None:
        self.base_url = base_url
        self.objects: dict[str, tuple[bytes, str]] = {}

    async def put(self, data: bytes, media_type: str, *, prefix: str = "images") -> StoredBlob:
        digest = hashlib.sha256(data).hexdigest()
        extension = {"image/png": "png", "image/webp": "webp", "image/jpeg": "jpg"}.get(media_type, "bin")
        key = f"{prefix}/{digest[:2]}/{digest[2:4]}/{digest}.{extension}"
        self.objects[key] = (data, media_type)
        return StoredBlob(
            key=key, url=await self.url_for(key), size=len(data), media_type=media_type, etag=digest
        )

    async def get(self, key: str) -> bytes:
        if key not in self.objects:
            raise NotFoundError(f"no object {key}")
        return self.objects[key][0]

    async def exists(self, key: str) -> bool:
        return key in self.objects

    async def url_for(self, key: str) -> str:
        return f"{self.base_url}/{key}"

    async def close(self) -> None:
        return None


class Charges:
    """A ledger stand-in that is idempotent on job id, as the real one must be; counts every call."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.amounts: dict[str, Decimal] = {}

    async def __call__(self, job: Any) -> None:
        self.calls.append(job.id)
        self.amounts[job.id] = Decimal(job.cost_usd)
