"""The local BlobStore (content-addressed, atomic) and the /files endpoint that serves it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from alfred.errors import InvalidRequestError, NotFoundError
from alfred.mock.png import render_png
from alfred.storage.local import LocalBlobStore, LocalFilesEndpoint

IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "files", base_url="/files")


def client(root: Path) -> httpx.AsyncClient:
    app = LocalFilesEndpoint(root, "/files")
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


async def test_put_stores_bytes_under_their_hash(store: LocalBlobStore) -> None:
    png = render_png("ice axe", 20, 20)
    blob = await store.put(png, "image/png")
    digest = hashlib.sha256(png).hexdigest()
    assert blob.key == f"images/{digest[:2]}/{digest[2:4]}/{digest}.png"
    assert blob.url == f"/files/{blob.key}"
    assert blob.etag == f'"{digest}"'
    assert (store.root / blob.key).read_bytes() == png
    assert await store.get(blob.key) == png
    assert await store.exists(blob.key)


async def test_writes_leave_no_temporary_files_and_dedupe(store: LocalBlobStore) -> None:
    png = render_png("bow", 8, 8)
    first = await store.put(png, "image/png")
    second = await store.put(png, "image/png")
    jpeg_named = await store.put(b"\xff\xd8\xff" + b"x" * 10, "image/jpeg", prefix="thumbs")
    assert first == second
    assert jpeg_named.key.startswith("thumbs/") and jpeg_named.key.endswith(".jpg")
    files = sorted(p.relative_to(store.root).as_posix() for p in store.root.rglob("*") if p.is_file())
    assert files == sorted([first.key, jpeg_named.key])


async def test_missing_and_malformed_keys(store: LocalBlobStore) -> None:
    with pytest.raises(NotFoundError):
        await store.get("images/00/00/" + "0" * 64 + ".png")
    for bad in (
        "../../etc/passwd",
        "images/../x.png",
        "images/ab/cd/" + "a" * 64 + ".png",
        "/abs/01/23/x.png",
    ):
        with pytest.raises(InvalidRequestError):
            await store.get(bad)
    with pytest.raises(InvalidRequestError):
        await store.put(b"x", "image/png", prefix="../up")


async def test_endpoint_serves_with_etag_and_immutable_caching(store: LocalBlobStore) -> None:
    png = render_png("hammer", 30, 30)
    blob = await store.put(png, "image/png")
    async with client(store.root) as http:
        response = await http.get(blob.url)
        head = await http.head(blob.url)
    assert response.status_code == 200
    assert response.content == png
    assert response.headers["content-type"] == "image/png"
    assert response.headers["etag"] == blob.etag
    assert response.headers["cache-control"] == IMMUTABLE
    assert response.headers["content-length"] == str(len(png))
    assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == str(len(png))


async def test_large_files_stream_whole(store: LocalBlobStore) -> None:
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4096  # over 1 MiB: several read chunks
    blob = await store.put(data, "image/png")
    async with client(store.root) as http:
        response = await http.get(blob.url)
    assert response.content == data


@pytest.mark.parametrize(
    "condition",
    ["{etag}", "W/{etag}", '"other", {etag}', "*"],
)
async def test_if_none_match_answers_304(store: LocalBlobStore, condition: str) -> None:
    blob = await store.put(render_png("shield", 8, 8), "image/png")
    async with client(store.root) as http:
        response = await http.get(blob.url, headers={"if-none-match": condition.format(etag=blob.etag)})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == blob.etag
    assert response.headers["cache-control"] == IMMUTABLE


async def test_if_none_match_with_another_etag_gets_the_file(store: LocalBlobStore) -> None:
    blob = await store.put(render_png("staff", 8, 8), "image/png")
    async with client(store.root) as http:
        response = await http.get(blob.url, headers={"if-none-match": '"0123"'})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/files/../secret.txt",
        "/files/%2e%2e/secret.txt",
        "/files/images/../../secret.txt",
        "/files/images/00/00/" + "0" * 64 + ".png",
        "/files/",
        "/files/secret.txt",
    ],
)
async def test_endpoint_refuses_anything_but_stored_keys(tmp_path: Path, path: str) -> None:
    root = tmp_path / "files"
    root.mkdir()
    (tmp_path / "secret.txt").write_text("top secret")
    (root / "secret.txt").write_text("not a key")
    async with client(root) as http:
        response = await http.get(path)
    assert response.status_code == 404
    assert "secret" not in response.text
    assert response.json()["error"]["code"] == "not_found"


async def test_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "files"
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"\x89PNG\r\n\x1a\nsecret")
    digest = "ab" * 32
    link = root / "images" / digest[:2] / digest[2:4] / f"{digest}.png"
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    async with client(root) as http:
        response = await http.get(f"/files/images/{digest[:2]}/{digest[2:4]}/{digest}.png")
    assert response.status_code == 404


async def test_other_methods_are_not_allowed(store: LocalBlobStore) -> None:
    blob = await store.put(render_png("dagger", 8, 8), "image/png")
    async with client(store.root) as http:
        response = await http.post(blob.url, content=b"x")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


async def test_raw_traversal_paths_never_reach_the_disk(tmp_path: Path) -> None:
    """Straight ASGI scopes, as a server that does not normalise paths would pass them."""
    root = tmp_path / "files"
    root.mkdir()
    (tmp_path / "secret.png").write_bytes(b"\x89PNG\r\n\x1a\nsecret")
    endpoint = LocalFilesEndpoint(root, "/files")
    for path in ("/files/../secret.png", "/files/images/../../secret.png", "/files/images/\x00.png"):
        sent: list[dict[str, object]] = []

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, object], sent: list[dict[str, object]] = sent) -> None:
            sent.append(message)

        await endpoint({"type": "http", "method": "GET", "path": path, "headers": []}, receive, send)
        assert sent[0]["status"] == 404, path
        assert b"secret" not in b"".join(m.get("body", b"") for m in sent)  # type: ignore[misc]
