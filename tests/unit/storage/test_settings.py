"""Storage settings (strict, told apart by kind) and the factory that builds a store from them."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from alfred.storage.factory import build_blob_store, files_endpoint
from alfred.storage.local import LocalBlobStore, LocalFilesEndpoint
from alfred.storage.settings import LocalStorageSettings, S3StorageSettings, StorageSettings

adapter: TypeAdapter[LocalStorageSettings | S3StorageSettings] = TypeAdapter(StorageSettings)


def test_kind_picks_the_model() -> None:
    local = adapter.validate_python({"kind": "local", "root": "/srv/files"})
    s3 = adapter.validate_python(
        {
            "kind": "s3",
            "bucket": "forge-assets",
            "endpoint_url": "https://acct.r2.cloudflarestorage.com/",
            "cdn_base_url": "https://cdn.example.com/",
            "key_prefix": "/game/",
        }
    )
    assert isinstance(local, LocalStorageSettings) and local.root == Path("/srv/files")
    assert isinstance(s3, S3StorageSettings)
    assert s3.endpoint_url == "https://acct.r2.cloudflarestorage.com"
    assert s3.cdn_base_url == "https://cdn.example.com"
    assert s3.key_prefix == "game"
    assert s3.cache_control == "public, max-age=31536000, immutable"


@pytest.mark.parametrize(
    "raw",
    [
        {"kind": "local", "root": "/x", "rooot": "/typo"},
        {"kind": "local", "url_prefix": "files"},
        {"kind": "local", "url_prefix": "/files/"},
        {"kind": "s3"},
        {"kind": "s3", "bucket": "b" * 3, "presign_expiry_s": 8 * 24 * 3600},
        {"kind": "gcs", "bucket": "nope"},
    ],
)
def test_bad_settings_are_refused(raw: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        adapter.validate_python(raw)


def test_factory_builds_a_local_store_and_its_endpoint(tmp_path: Path) -> None:
    settings = LocalStorageSettings(
        root=tmp_path, url_prefix="/assets", public_base_url="https://cdn.example.com/assets"
    )
    store = build_blob_store(settings)
    assert isinstance(store, LocalBlobStore)
    mounted = files_endpoint(settings)
    assert mounted is not None
    prefix, app = mounted
    assert prefix == "/assets/" and isinstance(app, LocalFilesEndpoint)


async def test_local_urls_use_the_public_base(tmp_path: Path) -> None:
    settings = LocalStorageSettings(root=tmp_path, public_base_url="https://cdn.example.com/files")
    blob = await build_blob_store(settings).put(b"\x89PNG\r\n\x1a\n", "image/png")
    assert blob.url == f"https://cdn.example.com/files/{blob.key}"


def test_s3_store_resolves_secret_references() -> None:
    pytest.importorskip("obstore")
    seen: list[str | None] = []

    def resolve(value: str | None) -> str | None:
        seen.append(value)
        return "resolved"

    settings = S3StorageSettings(
        bucket="forge", access_key_id="env:KEY", secret_access_key="file:/run/secret"
    )
    build_blob_store(settings, resolve)
    assert seen == ["env:KEY", "file:/run/secret"]
    assert files_endpoint(settings) is None
