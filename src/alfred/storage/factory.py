"""Builds the configured ``BlobStore`` from its settings: the ``kind`` name picks the backend."""

from __future__ import annotations

from collections.abc import Callable

from alfred.storage.blobs import BlobStore
from alfred.storage.local import LocalBlobStore, LocalFilesEndpoint
from alfred.storage.settings import LocalStorageSettings, S3StorageSettings, StorageSettings

# Resolves a secret reference (env:NAME, file:PATH, a literal) to its value; ``SecretResolver.resolve``.
SecretLookup = Callable[[str | None], str | None]


def _identity(value: str | None) -> str | None:
    return value


def build_blob_store(settings: StorageSettings, resolve: SecretLookup = _identity) -> BlobStore:
    """The store ``settings`` describe; S3 credentials go through ``resolve`` (secret references)."""
    if isinstance(settings, LocalStorageSettings):
        base = settings.public_base_url or settings.url_prefix
        return LocalBlobStore(settings.root, base_url=base)
    if isinstance(settings, S3StorageSettings):
        from alfred.storage.s3 import S3BlobStore  # obstore is an install extra

        return S3BlobStore(
            settings,
            access_key_id=resolve(settings.access_key_id),
            secret_access_key=resolve(settings.secret_access_key),
        )
    raise TypeError(f"unknown storage settings {type(settings).__name__}")


def files_endpoint(settings: StorageSettings) -> tuple[str, LocalFilesEndpoint] | None:
    """The ``(path prefix, ASGI app)`` the gateway mounts to serve a local store, else None."""
    if isinstance(settings, LocalStorageSettings):
        return settings.url_prefix + "/", LocalFilesEndpoint(settings.root, settings.url_prefix)
    return None
