"""Real, deterministic PNG files for the image mocks: the same prompt and seed give the same bytes.

A grid of flat colour blocks derived from a hash, written with zlib and struct only, so the mock
needs no imaging library and its files decode in any viewer or PIL. Rows inside a block are equal,
so even 1024² images compress to a few kilobytes and encode in milliseconds.
"""

from __future__ import annotations

import hashlib
import struct
import zlib

MAX_SIDE = 2048
_GRID = 8


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def render_png(text: str, width: int = 64, height: int = 64) -> bytes:
    """An 8-bit RGB PNG of ``width`` by ``height`` whose colours are a function of ``text``."""
    width = max(1, min(int(width), MAX_SIDE))
    height = max(1, min(int(height), MAX_SIDE))
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    palette = [digest[i : i + 3] for i in range(0, 30, 3)]  # ten colours
    pattern = hashlib.sha256(digest).digest() + hashlib.sha256(digest[::-1]).digest()  # 64 cells
    rows: list[bytes] = []
    for y in range(height):
        band = y * _GRID // height
        line = bytearray()
        for x in range(_GRID):
            start = x * width // _GRID
            end = (x + 1) * width // _GRID
            colour = palette[pattern[band * _GRID + x] % len(palette)]
            line += colour * (end - start)
        rows.append(b"\x00" + bytes(line))  # filter type 0 (None) per scanline
    raw = b"".join(rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit, RGB, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 6))
        + _chunk(b"IEND", b"")
    )


def image_key(prompt: str, seed: int, index: int, width: int, height: int) -> str:
    """The text an image's pixels derive from: equal requests give equal files."""
    return f"{prompt}\x00{seed}\x00{index}\x00{width}x{height}"
