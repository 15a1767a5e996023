"""Renders the error family (``alfred.errors``) as OpenAI-format JSON with the right status."""

from __future__ import annotations

import msgspec

from alfred.api.http import Send, send_bytes
from alfred.errors import AlfredError

_encoder = msgspec.json.Encoder()


def error_body(error: AlfredError, request_id: str | None) -> bytes:
    payload = error.to_dict()
    if request_id:
        payload["error"]["request_id"] = request_id  # type: ignore[index]
    return _encoder.encode(payload)


async def send_error(send: Send, error: AlfredError, request_id: str | None) -> None:
    await send_bytes(send, error.status, error_body(error, request_id), extra=error.headers or None)
