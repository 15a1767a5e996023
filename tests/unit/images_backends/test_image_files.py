"""The pieces every image backend and mock shares: PNG rendering, type sniffing, downloads, durations."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import pytest

from alfred.errors import UpstreamError
from alfred.mock.png import image_key, render_png
from alfred.mock.replicate import parse_duration, parse_prefer_wait
from alfred.providers.image_download import decode_data_uri, image_from_bytes, sniff_media_type


def test_rendered_pngs_are_valid_and_deterministic() -> None:
    from PIL import Image

    data = render_png(image_key("fire sword", 7, 0, 96, 40), 96, 40)
    assert data == render_png(image_key("fire sword", 7, 0, 96, 40), 96, 40)
    assert data != render_png(image_key("fire sword", 8, 0, 96, 40), 96, 40)
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert (image.format, image.size, image.mode) == ("PNG", (96, 40), "RGB")
    # Every chunk's CRC is right (PIL tolerates some damage; check by hand).
    position = 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc
        position += 12 + length


def test_large_renders_stay_small() -> None:
    assert len(render_png("big", 1024, 1024)) < 64 * 1024


def test_media_types_are_sniffed_from_bytes() -> None:
    assert sniff_media_type(render_png("x", 4, 4)) == "image/png"
    assert sniff_media_type(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert sniff_media_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff_media_type(b"<html>502 Bad Gateway</html>") is None
    with pytest.raises(UpstreamError, match="not an image"):
        image_from_bytes(b'{"error": "expired"}', provider="p", source="download")


def test_data_uris_decode() -> None:
    png = render_png("uri", 4, 4)
    assert decode_data_uri("data:image/png;base64," + base64.b64encode(png).decode(), provider="p") == png
    for bad in ("data:image/png,rawtext", "data:image/png;base64,@@@", "nodata"):
        with pytest.raises(UpstreamError):
            decode_data_uri(bad, provider="p")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90.0),
        ("1m30s", 90.0),
        ("500ms", 0.5),
        ("1h", 3600.0),
        ("2.5s", 2.5),
        ("", None),
        ("5", None),
        ("1x", None),
    ],
)
def test_go_durations_as_cancel_after_takes_them(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


def test_prefer_wait_values() -> None:
    assert parse_prefer_wait("wait") == 60.0
    assert parse_prefer_wait("wait=5") == 5.0
    assert parse_prefer_wait("wait=600") == 60.0
    assert parse_prefer_wait("respond-async") == 0.0
    assert parse_prefer_wait(None) == 0.0
