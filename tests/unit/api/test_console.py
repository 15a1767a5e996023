"""The console endpoint: index and hashed assets, cache policy, security headers, 404s."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from alfred.api.console import BUILD_DIR, ConsoleEndpoint


def _build(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(
        '<!doctype html><script type="module" src="/console/assets/app-abc.js">'
    )
    (tmp_path / "assets" / "app-abc.js").write_text("console.log(1)")
    (tmp_path / "assets" / "app-abc.css").write_text("body{}")
    (tmp_path / "assets" / "notes.txt").write_text("not served: unknown type")
    return tmp_path


def _client(endpoint: ConsoleEndpoint) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=endpoint), base_url="http://gw")


@pytest.mark.parametrize("path", ["/console", "/console/", "/console/index.html"])
async def test_index_is_served_and_revalidated(tmp_path: Path, path: str) -> None:
    async with _client(ConsoleEndpoint(_build(tmp_path))) as client:
        response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert "/console/assets/app-abc.js" in response.text


async def test_hashed_assets_cache_for_a_year_with_their_type(tmp_path: Path) -> None:
    async with _client(ConsoleEndpoint(_build(tmp_path))) as client:
        js = await client.get("/console/assets/app-abc.js")
        css = await client.get("/console/assets/app-abc.css")
    assert js.status_code == css.status_code == 200
    assert js.text == "console.log(1)"
    assert js.headers["content-type"].startswith("text/javascript")
    assert css.headers["content-type"].startswith("text/css")
    assert "immutable" in js.headers["cache-control"] and "max-age=31536000" in js.headers["cache-control"]


async def test_security_headers_allow_only_self(tmp_path: Path) -> None:
    async with _client(ConsoleEndpoint(_build(tmp_path))) as client:
        response = await client.get("/console")
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    ["/console/assets/missing.js", "/console/assets/notes.txt", "/console/../pyproject.toml", "/consoles"],
)
async def test_unknown_paths_are_404_in_openai_shape(tmp_path: Path, path: str) -> None:
    async with _client(ConsoleEndpoint(_build(tmp_path))) as client:
        response = await client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_unbuilt_console_says_how_to_build_it(tmp_path: Path) -> None:
    async with _client(ConsoleEndpoint(tmp_path / "nothing")) as client:
        response = await client.get("/console")
    assert response.status_code == 404
    assert "npm run build" in response.json()["error"]["message"]


async def test_head_has_no_body_and_post_is_refused(tmp_path: Path) -> None:
    async with _client(ConsoleEndpoint(_build(tmp_path))) as client:
        head = await client.head("/console/assets/app-abc.js")
        post = await client.post("/console")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len("console.log(1)"))
    assert post.status_code == 405


def test_the_committed_build_references_only_assets_it_ships() -> None:
    index = (BUILD_DIR / "index.html").read_text()
    endpoint = ConsoleEndpoint()
    referenced = [part.split('"')[0] for part in index.split("/console/assets/")[1:]]
    assert referenced, "index.html references no assets"
    for name in referenced:
        assert (BUILD_DIR / "assets" / name).is_file(), name
    assert endpoint._find("/console") is not None
    assert "<script>" not in index  # no inline script: the CSP would block it
