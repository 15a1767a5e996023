"""Settings for where generated files are kept: a directory on disk or an S3-compatible bucket.

Meant to hang off the top-level ``Settings`` as ``storage: StorageSettings`` (a union told apart
by ``kind``); ``storage/factory.py`` turns it into a ``BlobStore``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator

from alfred.configbase import Strict

IMMUTABLE_CACHE_CONTROL = "public, max-age=31536000, immutable"


class LocalStorageSettings(Strict):
    """Files in a directory, served by the gateway itself at ``url_prefix`` (the CDN origin)."""

    kind: Literal["local"] = "local"
    root: Path = Field(Path("data/files"), description="the directory objects are written under")
    url_prefix: str = Field("/files", description="the path the gateway serves the directory at")
    public_base_url: str | None = Field(
        None, description="absolute base for URLs (e.g. https://cdn.example.com/files); else relative"
    )

    @field_validator("url_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value.startswith("/") or value.endswith("/") or len(value) < 2:
            raise ValueError("url_prefix must start with '/' and not end with '/', e.g. /files")
        return value


class S3StorageSettings(Strict):
    """An S3-compatible bucket: AWS S3, Cloudflare R2 or MinIO."""

    kind: Literal["s3"] = "s3"
    bucket: str = Field(min_length=3)
    endpoint_url: str | None = Field(
        None,
        description="R2: https://<account>.r2.cloudflarestorage.com; MinIO: http://host:9000; AWS: unset",
    )
    region: str = Field("auto", description="'auto' for R2; the bucket's region for AWS")
    access_key_id: str | None = Field(None, description="a secret reference (env:NAME, file:PATH) or literal")
    secret_access_key: str | None = Field(
        None, description="a secret reference (env:NAME, file:PATH) or literal"
    )
    key_prefix: str = Field("", description="a folder inside the bucket every key goes under")
    cdn_base_url: str | None = Field(
        None, description="public URLs as <cdn_base_url>/<key>; without it, URLs are presigned GETs"
    )
    presign_expiry_s: int = Field(7 * 24 * 3600, ge=60, le=7 * 24 * 3600, description="SigV4 allows 7 days")
    virtual_hosted_style: bool = Field(
        False, description="bucket.host addressing (AWS); path style otherwise"
    )
    allow_http: bool = Field(False, description="permit a plain-http endpoint (a local MinIO)")
    cache_control: str = IMMUTABLE_CACHE_CONTROL

    @field_validator("key_prefix")
    @classmethod
    def _key_prefix(cls, value: str) -> str:
        return value.strip("/")

    @field_validator("cdn_base_url", "endpoint_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value


StorageSettings = Annotated[LocalStorageSettings | S3StorageSettings, Field(discriminator="kind")]
