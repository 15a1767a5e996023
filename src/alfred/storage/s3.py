"""A ``BlobStore`` in an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO), through obstore.

obstore (Rust's ``object_store`` behind a small async Python API) was picked over aioboto3: one
wheel with no Python dependencies, native asyncio, SigV4 presigning built in, and no pin on a
botocore release. Objects are written once under content-addressed keys with their media type and
``Cache-Control: public, max-age=31536000, immutable``; a ``HEAD`` first skips re-uploading an
image that is already there. URLs are ``<cdn_base_url>/<key>`` when a CDN (or R2 public bucket)
fronts the bucket, otherwise presigned GETs that expire after ``presign_expiry_s``.
"""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import Any

from alfred.errors import NotFoundError, ServiceUnavailableError
from alfred.storage.blobs import StoredBlob
from alfred.storage.keys import check_key, content_key, etag_for
from alfred.storage.settings import S3StorageSettings


def _obstore() -> Any:
    # Imported by name: the S3 backend is an install extra and the core's type check must not need it.
    return importlib.import_module("obstore")


class S3BlobStore:
    """Content-addressed objects in one bucket; URLs from a CDN base or presigned."""

    def __init__(
        self, settings: S3StorageSettings, *, access_key_id: str | None, secret_access_key: str | None
    ) -> None:
        self.settings = settings
        config: dict[str, Any] = {
            "region": settings.region,
            "virtual_hosted_style_request": settings.virtual_hosted_style,
        }
        if settings.endpoint_url:
            config["endpoint"] = settings.endpoint_url
        if access_key_id and secret_access_key:
            config["access_key_id"] = access_key_id
            config["secret_access_key"] = secret_access_key
        client_options = {"allow_http": settings.allow_http}
        store_cls = importlib.import_module("obstore.store").S3Store
        self._store = store_cls(settings.bucket, config=config, client_options=client_options)
        # obstore raises the builtin FileNotFoundError for a missing object (its own NotFoundError
        # is deprecated), its BaseError family for the rest, and sometimes ValueError.
        self._errors = (importlib.import_module("obstore.exceptions").BaseError, ValueError, OSError)

    def _path(self, key: str) -> str:
        prefix = self.settings.key_prefix
        return f"{prefix}/{key}" if prefix else key

    async def put(self, data: bytes, media_type: str, *, prefix: str = "images") -> StoredBlob:
        key, digest = content_key(data, media_type, prefix)
        obstore = _obstore()
        path = self._path(key)
        try:
            try:
                meta = await obstore.head_async(self._store, path)
                etag = meta.get("e_tag") or etag_for(digest)
            except FileNotFoundError:
                attributes = {"Content-Type": media_type, "Cache-Control": self.settings.cache_control}
                result = await obstore.put_async(self._store, path, data, attributes=attributes)
                etag = result.get("e_tag") or etag_for(digest)
        except self._errors as exc:
            raise ServiceUnavailableError(
                f"object storage: cannot store {key}: {type(exc).__name__}"
            ) from exc
        return StoredBlob(
            key=key, url=await self.url_for(key), size=len(data), media_type=media_type, etag=str(etag)
        )

    async def get(self, key: str) -> bytes:
        check_key(key)
        obstore = _obstore()
        try:
            result = await obstore.get_async(self._store, self._path(key))
            return bytes(await result.bytes_async())
        except FileNotFoundError:
            raise NotFoundError(f"no stored object {key}") from None
        except self._errors as exc:
            raise ServiceUnavailableError(f"object storage: cannot read {key}: {type(exc).__name__}") from exc

    async def exists(self, key: str) -> bool:
        check_key(key)
        try:
            await _obstore().head_async(self._store, self._path(key))
        except FileNotFoundError:
            return False
        except self._errors as exc:
            raise ServiceUnavailableError(
                f"object storage: cannot check {key}: {type(exc).__name__}"
            ) from exc
        return True

    async def url_for(self, key: str) -> str:
        check_key(key)
        path = self._path(key)
        if self.settings.cdn_base_url:
            return f"{self.settings.cdn_base_url}/{path}"
        expiry = timedelta(seconds=self.settings.presign_expiry_s)
        return str(await _obstore().sign_async(self._store, "GET", path, expiry))

    async def close(self) -> None:
        return None
