"""The S3 BlobStore against a real S3-compatible server: moto in server mode, on a free local port.

The server speaks the S3 REST API over HTTP like MinIO or R2 would; boto3 (a different client)
checks what obstore wrote, so the test does not trust the code under test to read its own work.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from alfred.errors import NotFoundError
from alfred.mock.png import render_png
from alfred.storage.factory import build_blob_store
from alfred.storage.s3 import S3BlobStore
from alfred.storage.settings import S3StorageSettings
from tests.servers import free_port, wait_http

boto3 = pytest.importorskip("boto3")
pytest.importorskip("obstore")
pytest.importorskip("moto")

KEY_ID = "AKIAALFREDTEST"
SECRET = "alfred-test-secret"


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/moto-api/", deadline_s=30, proc=proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def bucket(s3_url: str, request: pytest.FixtureRequest) -> str:
    name = "alfred-" + hashlib.sha256(request.node.name.encode()).hexdigest()[:12]
    client(s3_url).create_bucket(Bucket=name)
    return name


def client(url: str) -> object:
    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
    )


def settings(url: str, bucket: str, **extra: object) -> S3StorageSettings:
    return S3StorageSettings(
        bucket=bucket,
        endpoint_url=url,
        region="us-east-1",
        access_key_id="env:ALFRED_TEST_S3_KEY",
        secret_access_key="env:ALFRED_TEST_S3_SECRET",
        allow_http=True,
        **extra,  # type: ignore[arg-type]
    )


def secrets(value: str | None) -> str | None:
    return {"env:ALFRED_TEST_S3_KEY": KEY_ID, "env:ALFRED_TEST_S3_SECRET": SECRET}.get(value or "", value)


async def test_put_writes_a_content_addressed_immutable_object(s3_url: str, bucket: str) -> None:
    store = build_blob_store(settings(s3_url, bucket, key_prefix="gen"), secrets)
    assert isinstance(store, S3BlobStore)
    png = render_png("a legendary fire sword", 48, 48)
    blob = await store.put(png, "image/png")
    digest = hashlib.sha256(png).hexdigest()
    assert blob.key == f"images/{digest[:2]}/{digest[2:4]}/{digest}.png"
    assert blob.size == len(png) and blob.media_type == "image/png"

    # Read back with boto3, not obstore: the object, its type and its caching policy are real.
    head = client(s3_url).get_object(Bucket=bucket, Key=f"gen/{blob.key}")  # type: ignore[attr-defined]
    assert head["Body"].read() == png
    assert head["ContentType"] == "image/png"
    assert head["CacheControl"] == "public, max-age=31536000, immutable"
    assert blob.etag.strip('"') == head["ETag"].strip('"')

    assert await store.exists(blob.key)
    assert await store.get(blob.key) == png


async def test_same_bytes_are_stored_once(s3_url: str, bucket: str) -> None:
    store = build_blob_store(settings(s3_url, bucket), secrets)
    png = render_png("twice", 16, 16)
    first = await store.put(png, "image/png")
    second = await store.put(png, "image/png")
    assert first.key == second.key
    listed = client(s3_url).list_objects_v2(Bucket=bucket)  # type: ignore[attr-defined]
    assert [item["Key"] for item in listed["Contents"]] == [first.key]


async def test_missing_object_is_not_found(s3_url: str, bucket: str) -> None:
    store = build_blob_store(settings(s3_url, bucket), secrets)
    key = "images/00/00/" + "0" * 64 + ".png"
    assert not await store.exists(key)
    with pytest.raises(NotFoundError):
        await store.get(key)


async def test_presigned_url_downloads_without_credentials(s3_url: str, bucket: str) -> None:
    store = build_blob_store(settings(s3_url, bucket, presign_expiry_s=600), secrets)
    png = render_png("presigned", 24, 24)
    blob = await store.put(png, "image/png")
    assert "X-Amz-Signature=" in blob.url and "X-Amz-Expires=600" in blob.url
    async with httpx.AsyncClient() as http:
        response = await http.get(blob.url)
    assert response.status_code == 200
    assert response.content == png


async def test_cdn_base_url_makes_public_urls(s3_url: str, bucket: str) -> None:
    store = build_blob_store(
        settings(s3_url, bucket, cdn_base_url="https://cdn.example.com/", key_prefix="g"), secrets
    )
    blob = await store.put(render_png("cdn", 8, 8), "image/png")
    assert blob.url == f"https://cdn.example.com/g/{blob.key}"
