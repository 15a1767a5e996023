"""A ``BlobStore`` in a directory on disk, and the ASGI endpoint that serves it at ``/files/...``.

Writes are atomic (a temporary file in the target directory, then ``os.replace``), so a reader
never sees half an image, and all file I/O runs off the event loop. The endpoint answers with the
content hash as a strong ETag, ``Cache-Control: public, max-age=31536000, immutable`` and 304 on
a matching ``If-None-Match``; it serves only well-formed content keys that resolve inside the root.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import msgspec

from alfred.errors import AlfredError, NotFoundError
from alfred.storage.blobs import StoredBlob
from alfred.storage.keys import check_key, content_key, etag_for, media_type_for
from alfred.storage.settings import IMMUTABLE_CACHE_CONTROL

_CHUNK = 256 * 1024


class LocalBlobStore:
    """Content-addressed objects under ``root``; URLs are ``<base_url>/<key>``."""

    def __init__(self, root: Path, *, base_url: str = "/files") -> None:
        self.root = root.resolve()
        self._base_url = base_url.rstrip("/")

    def path_for(self, key: str) -> Path:
        check_key(key)
        return self.root / key

    async def put(self, data: bytes, media_type: str, *, prefix: str = "images") -> StoredBlob:
        key, digest = content_key(data, media_type, prefix)
        await asyncio.to_thread(self._write, self.root / key, data)
        return StoredBlob(
            key=key, url=await self.url_for(key), size=len(data), media_type=media_type, etag=etag_for(digest)
        )

    async def get(self, key: str) -> bytes:
        path = self.path_for(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise NotFoundError(f"no stored object {key}") from None

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path_for(key).is_file)

    async def url_for(self, key: str) -> str:
        check_key(key)
        return f"{self._base_url}/{key}"

    async def close(self) -> None:
        return None

    @staticmethod
    def _write(target: Path, data: bytes) -> None:
        if target.is_file() and target.stat().st_size == len(data):
            return  # same key, same bytes: content addressing makes the write a no-op
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 weak comparison, as If-None-Match requires."""
    if if_none_match.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(candidate.strip().removeprefix("W/") == bare for candidate in if_none_match.split(","))


class LocalFilesEndpoint:
    """Raw ASGI app serving ``GET``/``HEAD <prefix>/<key>`` from a ``LocalBlobStore``'s root."""

    def __init__(self, root: Path, prefix: str = "/files") -> None:
        self._root = root.resolve()
        self._prefix = prefix.rstrip("/") + "/"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            await self._error(
                send,
                AlfredError("only GET and HEAD", code="method_not_allowed", status=405),
                extra=[(b"allow", b"GET, HEAD")],
            )
            return
        path: str = scope["path"]
        key = path[len(self._prefix) :] if path.startswith(self._prefix) else ""
        try:
            match = check_key(key)
        except AlfredError:
            await self._error(send, NotFoundError("no such file"))
            return
        target = self._root / key
        size = await asyncio.to_thread(self._size, target)
        if size is None:
            await self._error(send, NotFoundError("no such file"))
            return
        etag = etag_for(match.group("digest"))
        headers = [
            (b"etag", etag.encode()),
            (b"cache-control", IMMUTABLE_CACHE_CONTROL.encode()),
        ]
        request_headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        condition = request_headers.get("if-none-match")
        if condition is not None and _matches(condition, etag):
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        headers += [
            (b"content-type", media_type_for(key).encode()),
            (b"content-length", str(size).encode()),
            (b"x-content-type-options", b"nosniff"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if method == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return
        handle = await asyncio.to_thread(target.open, "rb")
        try:
            while True:
                chunk = await asyncio.to_thread(handle.read, _CHUNK)
                more = len(chunk) == _CHUNK
                await send({"type": "http.response.body", "body": chunk, "more_body": more})
                if not more:
                    return
        finally:
            await asyncio.to_thread(handle.close)

    def _size(self, target: Path) -> int | None:
        """The file's size if it is a regular file inside the root (symlinks out are refused)."""
        try:
            resolved = target.resolve(strict=True)
        except (FileNotFoundError, RuntimeError, OSError):
            return None
        if not resolved.is_relative_to(self._root) or not resolved.is_file():
            return None
        return resolved.stat().st_size

    @staticmethod
    async def _error(send: Any, error: AlfredError, extra: list[tuple[bytes, bytes]] | None = None) -> None:
        body = msgspec.json.encode(error.to_dict())
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *(extra or []),
        ]
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
