"""Copies an image a backend points at (a URL or a ``data:`` URI) into bytes the pipeline owns.

Paid image APIs hand out short-lived URLs (Replicate deletes outputs after about an hour, OpenAI's
URLs last 60 minutes), so every backend downloads its outputs at once and returns bytes: a client
never sees an upstream URL.
"""

from __future__ import annotations

import base64
import binascii

from alfred.errors import UpstreamError
from alfred.providers.base import UpstreamRequest, upstream_error
from alfred.providers.transport import HttpTransport, Timeouts
from alfred.schema.images import GeneratedImage

DEFAULT_MAX_IMAGE_BYTES = 50 * 1024 * 1024

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def sniff_media_type(data: bytes) -> str | None:
    """The image type the bytes really are (magic numbers), or None when they are no known image."""
    for magic, media_type in _SIGNATURES:
        if data.startswith(magic):
            return media_type
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def image_from_bytes(data: bytes, *, provider: str, source: str) -> GeneratedImage:
    """Wrap downloaded bytes, refusing anything that is not an image (an HTML error page, JSON)."""
    media_type = sniff_media_type(data)
    if media_type is None:
        raise UpstreamError(f"{provider}: output {source} is not an image ({len(data)} bytes)")
    return GeneratedImage(data, media_type)


def decode_data_uri(uri: str, *, provider: str) -> bytes:
    """The bytes of a ``data:[<type>][;base64],<payload>`` URI."""
    header, sep, payload = uri.partition(",")
    if not sep or not header.startswith("data:"):
        raise UpstreamError(f"{provider}: malformed data URI in output")
    if not header.endswith(";base64"):
        raise UpstreamError(f"{provider}: data URI output is not base64-encoded")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UpstreamError(f"{provider}: data URI output is not valid base64") from exc


class ImageDownloader:
    """Fetches output files over the shared transport, bounded in size and time."""

    def __init__(
        self,
        transport: HttpTransport,
        timeouts: Timeouts,
        *,
        max_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
    ) -> None:
        self._transport = transport
        self._timeouts = timeouts
        self._max_bytes = max_bytes

    async def fetch(
        self, url: str, *, provider: str, headers: dict[str, str] | None = None
    ) -> GeneratedImage:
        if url.startswith("data:"):
            return image_from_bytes(
                decode_data_uri(url, provider=provider), provider=provider, source="data URI"
            )
        if not url.startswith(("http://", "https://")):
            raise UpstreamError(f"{provider}: output is not an http(s) URL")
        response = await self._transport.send(
            UpstreamRequest("GET", url, dict(headers or {})), self._timeouts, provider
        )
        if response.status != 200:
            raise upstream_error(
                response.status,
                f"downloading an output failed with HTTP {response.status}",
                provider=provider,
                retry_after=response.headers.get("retry-after"),
            )
        if len(response.body) > self._max_bytes:
            raise UpstreamError(f"{provider}: output of {len(response.body)} bytes exceeds {self._max_bytes}")
        return image_from_bytes(response.body, provider=provider, source="download")
