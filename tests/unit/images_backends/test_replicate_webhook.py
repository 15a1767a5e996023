"""Standard Webhooks verification of incoming Replicate webhooks: genuine passes, forged or stale fails."""

from __future__ import annotations

import base64

import pytest

from alfred.errors import AuthenticationError
from alfred.providers.replicate_webhook import sign_standard_webhook, verify_replicate_webhook

# The published Standard Webhooks test vector.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def headers(signature: str = SIGNATURE, timestamp: int = TIMESTAMP, msg_id: str = MSG_ID) -> dict[str, str]:
    return {"Webhook-Id": msg_id, "Webhook-Timestamp": str(timestamp), "Webhook-Signature": signature}


def test_signing_reproduces_the_published_vector() -> None:
    assert sign_standard_webhook(SECRET, MSG_ID, TIMESTAMP, BODY) == SIGNATURE


def test_a_genuine_delivery_verifies() -> None:
    verify_replicate_webhook(headers(), BODY, SECRET, now=TIMESTAMP + 10)


def test_any_valid_entry_among_several_signatures_is_enough() -> None:
    rotated = f"v1,{base64.b64encode(b'x' * 32).decode()} v1a,ignored {SIGNATURE}"
    verify_replicate_webhook(headers(rotated), BODY, SECRET, now=TIMESTAMP)


@pytest.mark.parametrize(
    ("hdrs", "body", "now", "reason"),
    [
        (headers(), b'{"test": 2432232315}', TIMESTAMP, "no valid v1 signature"),
        (headers(msg_id="msg_other"), BODY, TIMESTAMP, "no valid v1 signature"),
        (headers("v1,bm9wZQ=="), BODY, TIMESTAMP, "no valid v1 signature"),
        (headers("v2," + SIGNATURE[3:]), BODY, TIMESTAMP, "no valid v1 signature"),
        (headers(), BODY, TIMESTAMP + 301, "away from now"),
        (headers(), BODY, TIMESTAMP - 301, "away from now"),
        (headers(timestamp=TIMESTAMP + 1), BODY, TIMESTAMP, "no valid v1 signature"),
        ({"webhook-id": MSG_ID, "webhook-timestamp": str(TIMESTAMP)}, BODY, TIMESTAMP, "missing"),
        ({**headers(), "webhook-timestamp": "soon"}, BODY, TIMESTAMP, "not an integer"),
    ],
)
def test_forged_or_stale_deliveries_are_rejected(
    hdrs: dict[str, str], body: bytes, now: int, reason: str
) -> None:
    with pytest.raises(AuthenticationError, match=reason) as caught:
        verify_replicate_webhook(hdrs, body, SECRET, now=now)
    assert caught.value.code == "invalid_webhook_signature" and caught.value.status == 401


def test_another_secret_does_not_verify() -> None:
    other = "whsec_" + base64.b64encode(b"another secret of 32 bytes......").decode()
    with pytest.raises(AuthenticationError):
        verify_replicate_webhook(headers(), BODY, other, now=TIMESTAMP)


def test_a_fresh_signature_round_trips_with_the_real_clock() -> None:
    import time

    now = int(time.time())
    body = b'{"id":"ufawqhfynnddngldkgtslldrkq","status":"succeeded"}'
    signature = sign_standard_webhook(SECRET, "msg_1", now, body)
    verify_replicate_webhook(headers(signature, now, "msg_1"), body, SECRET)
