"""Content-addressed object keys: ``<prefix>/<h[:2]>/<h[2:4]>/<sha256 hex>.<ext>``.

The key is a function of the bytes alone, so storing the same image twice is one object, an
object never changes (clients and CDNs may cache it forever) and its hash is its ETag.
"""

from __future__ import annotations

import hashlib
import re

from alfred.errors import InvalidRequestError

_EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/gif": "gif",
    "application/json": "json",
    "application/octet-stream": "bin",
}
MEDIA_TYPES = {ext: media for media, ext in _EXTENSIONS.items()}
_PREFIX = re.compile(r"^[A-Za-z0-9_-]{1,64}(/[A-Za-z0-9_-]{1,64}){0,7}$")
# Only keys this module makes: no "..", no empty segments, no odd characters, a known extension.
KEY = re.compile(
    r"^(?P<prefix>[A-Za-z0-9_-]{1,64}(?:/[A-Za-z0-9_-]{1,64}){0,7})/[0-9a-f]{2}/[0-9a-f]{2}/"
    r"(?P<digest>[0-9a-f]{64})\.(?P<ext>png|jpg|webp|gif|json|bin)$"
)


def extension_for(media_type: str) -> str:
    return _EXTENSIONS.get(media_type.split(";")[0].strip().lower(), "bin")


def media_type_for(key: str) -> str:
    return MEDIA_TYPES.get(key.rsplit(".", 1)[-1], "application/octet-stream")


def content_key(data: bytes, media_type: str, prefix: str) -> tuple[str, str]:
    """The key and sha256 hex digest of ``data``; ``prefix`` is one or more safe path segments."""
    if not _PREFIX.match(prefix):
        raise InvalidRequestError(f"invalid storage prefix {prefix!r}", retryable=False)
    digest = hashlib.sha256(data).hexdigest()
    return f"{prefix}/{digest[:2]}/{digest[2:4]}/{digest}.{extension_for(media_type)}", digest


def check_key(key: str) -> re.Match[str]:
    """The parsed key, or ``InvalidRequestError`` for anything that is not a content key."""
    match = KEY.match(key)
    if match is None:
        raise InvalidRequestError("invalid object key", retryable=False)
    digest = match.group("digest")
    if not key.endswith(f"{digest[:2]}/{digest[2:4]}/{digest}.{match.group('ext')}"):
        raise InvalidRequestError("invalid object key", retryable=False)
    return match


def etag_for(digest: str) -> str:
    return f'"{digest}"'
