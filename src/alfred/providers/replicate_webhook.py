"""Standard Webhooks signatures, the scheme Replicate signs its webhooks with.

A delivery carries ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and ``webhook-signature``:
space-separated ``v1,<base64 HMAC-SHA256>`` entries over ``"{id}.{timestamp}.{raw body}"``, keyed
with the bytes of a ``whsec_<base64>`` secret. Old or future timestamps are refused so a captured
delivery cannot be replayed later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping

from alfred.errors import AuthenticationError

DEFAULT_TOLERANCE_S = 300  # five minutes, the Standard Webhooks recommendation
_SECRET_PREFIX = "whsec_"  # noqa: S105  # nosec B105 - the scheme prefix, not a secret


def _key(secret: str) -> bytes:
    raw = secret[len(_SECRET_PREFIX) :] if secret.startswith(_SECRET_PREFIX) else secret
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("webhook secret is not whsec_<base64>") from exc


def _digest(key: bytes, msg_id: str, timestamp: str, body: bytes) -> bytes:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def sign_standard_webhook(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one delivery (for senders and tests)."""
    digest = _digest(_key(secret), msg_id, str(timestamp), body)
    return "v1," + base64.b64encode(digest).decode("ascii")


def _reject(reason: str) -> AuthenticationError:
    return AuthenticationError(
        f"webhook rejected: {reason}", code="invalid_webhook_signature", retryable=False
    )


def verify_standard_webhook(
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> None:
    """Raise ``AuthenticationError`` unless the delivery is signed with ``secret`` and recent.

    ``body`` must be the raw request bytes: re-encoded JSON would not match the signature.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id", "")
    timestamp = lowered.get("webhook-timestamp", "")
    signatures = lowered.get("webhook-signature", "")
    if not msg_id or not timestamp or not signatures:
        raise _reject("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise _reject("webhook-timestamp is not an integer") from None
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance_s:
        raise _reject(f"timestamp is more than {tolerance_s}s away from now")
    expected = _digest(_key(secret), msg_id, timestamp, body)
    for entry in signatures.split():
        version, sep, value = entry.partition(",")
        if not sep or version != "v1":
            continue  # other schemes (v1a asymmetric) are not ours to check
        try:
            candidate = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(candidate, expected):
            return
    raise _reject("no valid v1 signature")


def verify_replicate_webhook(
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> None:
    """Check an incoming Replicate webhook (``GET /v1/webhooks/default/secret`` gives the secret)."""
    verify_standard_webhook(headers, body, secret, tolerance_s=tolerance_s, now=now)
