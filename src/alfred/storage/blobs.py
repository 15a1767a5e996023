"""The ``BlobStore`` protocol: content-addressed objects in a directory on disk or an S3-compatible bucket."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """Where an object landed: its key (content-addressed) and the URL clients fetch it from."""

    key: str  # e.g. "images/ab/cd/<sha256 of the bytes>.png"
    url: str
    size: int
    media_type: str
    etag: str


class BlobStore(Protocol):
    """Stores immutable objects under content-addressed keys and hands out client URLs."""

    async def put(self, data: bytes, media_type: str, *, prefix: str = "images") -> StoredBlob: ...

    async def get(self, key: str) -> bytes: ...

    async def exists(self, key: str) -> bool: ...

    async def url_for(self, key: str) -> str: ...

    async def close(self) -> None: ...
