from __future__ import annotations

import ipaddress

import pytest

from alfred.errors import InvalidRequestError
from alfred.images.settings import WebhookSettings
from alfred.images.webhooks import TargetGuard, WebhookSender, WebhookSigner, address_allowed, new_secret
from tests.unit.images.conftest import Receiver

# The Standard Webhooks specification's published test vector.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signature_matches_the_standard_webhooks_vector() -> None:
    signer = WebhookSigner(VECTOR_SECRET)
    assert signer.signature(VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIG
    headers = {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TS),
        "webhook-signature": f"v1,bogus {VECTOR_SIG}",
    }
    signer.verify(headers, VECTOR_BODY, now=VECTOR_TS + 10)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"body": b'{"test": 1}'}, "no webhook signature matches"),
        ({"now": VECTOR_TS + 301}, "outside the tolerance"),
        ({"now": VECTOR_TS - 301}, "outside the tolerance"),
        ({"drop": "webhook-id"}, "missing"),
        ({"secret": new_secret()}, "no webhook signature matches"),
    ],
)
def test_verify_rejects_forged_stale_and_incomplete_messages(change: dict[str, object], words: str) -> None:
    headers = {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TS), "webhook-signature": VECTOR_SIG}
    if "drop" in change:
        headers.pop(str(change["drop"]))
    signer = WebhookSigner(str(change.get("secret", VECTOR_SECRET)))
    body = change.get("body", VECTOR_BODY)
    with pytest.raises(ValueError, match=words):
        signer.verify(headers, body, now=float(change.get("now", VECTOR_TS)))  # type: ignore[arg-type]


def test_secrets_must_be_whsec_base64() -> None:
    with pytest.raises(ValueError):
        WebhookSigner("whsec_not base64!")
    with pytest.raises(ValueError):
        WebhookSigner("whsec_c2hvcnQ=")  # 5 bytes


@pytest.mark.parametrize(
    ("address", "private_ok", "allowed"),
    [
        ("93.184.216.34", False, True),
        ("2606:2800:220:1:248:1893:25c8:1946", False, True),
        ("127.0.0.1", False, False),
        ("127.0.0.1", True, True),
        ("10.1.2.3", False, False),
        ("192.168.1.1", True, True),
        ("100.64.0.1", False, False),  # carrier-grade NAT
        ("169.254.169.254", True, False),  # cloud metadata: never
        ("169.254.10.10", True, False),  # link-local: never
        ("fd00:ec2::254", True, False),  # AWS metadata over IPv6
        ("::1", False, False),
        ("::ffff:127.0.0.1", False, False),  # IPv4-mapped loopback
        ("::ffff:169.254.169.254", True, False),
        ("2002:7f00:1::", False, False),  # 6to4 wrapping 127.0.0.1
        ("0.0.0.0", True, False),
        ("224.0.0.1", True, False),
    ],
)
def test_address_policy(address: str, private_ok: bool, allowed: bool) -> None:
    assert address_allowed(ipaddress.ip_address(address), private_ok) is allowed


def fixed_resolver(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("no such host")
        return table[host]

    return resolve


async def test_guard_resolves_the_host_and_checks_every_address() -> None:
    table = {
        "hooks.example.com": ["93.184.216.34"],
        "sneaky.example.com": ["93.184.216.34", "10.0.0.5"],
        "metadata.internal": ["169.254.169.254"],
    }
    guard = TargetGuard(resolve=fixed_resolver(table))
    await guard.check("https://hooks.example.com/cb")
    for url, words in [
        ("https://sneaky.example.com/cb", "private, loopback or reserved"),
        ("http://metadata.internal/latest/meta-data", "private, loopback or reserved"),
        ("http://127.0.0.1:8080/", "private, loopback or reserved"),
        ("ftp://hooks.example.com/", "http or https"),
        ("https://nowhere.example.com/", "cannot resolve"),
        ("https://hooks.example.com:99999/", "invalid port"),
    ]:
        with pytest.raises(InvalidRequestError, match=words) as caught:
            await TargetGuard(resolve=fixed_resolver({**table, "127.0.0.1": ["127.0.0.1"]})).check(url)
        assert caught.value.param == "webhook_url"
    allowed = TargetGuard(allow_hosts=frozenset({"sneaky.example.com"}), resolve=fixed_resolver(table))
    await allowed.check("https://sneaky.example.com/cb")


async def no_sleep(_: float) -> None:
    return None


async def test_delivery_is_signed_and_retried_on_5xx(receiver: Receiver) -> None:
    secret = new_secret()
    sender = WebhookSender(
        WebhookSettings(allow_private_targets=True, attempts=3), secret=secret, sleep=no_sleep
    )
    receiver.statuses = [503]
    ok = await sender.deliver(
        receiver.url, "imgjob_1.succeeded", {"type": "image.job.succeeded", "data": {"id": "imgjob_1"}}
    )
    await sender.close()
    assert ok and len(receiver.received) == 2
    headers, body = receiver.received[-1]
    assert headers["webhook-id"] == "imgjob_1.succeeded" and headers["content-type"] == "application/json"
    WebhookSigner(secret).verify(headers, body, now=float(headers["webhook-timestamp"]))
    assert b'"image.job.succeeded"' in body


async def test_client_errors_are_not_retried(receiver: Receiver) -> None:
    sender = WebhookSender(
        WebhookSettings(allow_private_targets=True, attempts=3), secret=new_secret(), sleep=no_sleep
    )
    receiver.statuses = [400]
    assert not await sender.deliver(receiver.url, "m", {})
    await sender.close()
    assert len(receiver.received) == 1


async def test_delivery_to_loopback_is_refused_at_connect_time_unless_allowed(receiver: Receiver) -> None:
    """Even a URL that passed validation earlier is checked again when connecting (DNS rebinding)."""
    sender = WebhookSender(WebhookSettings(attempts=2), secret=new_secret(), sleep=no_sleep)
    assert not await sender.deliver(receiver.url, "m", {})
    await sender.close()
    assert receiver.received == []
    with pytest.raises(InvalidRequestError):
        await WebhookSender(WebhookSettings(), secret=new_secret()).validate(receiver.url)
    with pytest.raises(InvalidRequestError, match="not configured"):
        await WebhookSender(WebhookSettings(allow_private_targets=True)).validate(receiver.url)


async def test_connections_go_only_to_addresses_the_guard_checked(receiver: Receiver) -> None:
    port = receiver.url.split(":")[2].split("/")[0]
    answers = {"rebind.test": [["93.184.216.34"], ["127.0.0.1"]]}  # public when validated, then internal

    async def resolve(host: str, _: int) -> list[str]:
        if host == "hooks.test":
            return ["127.0.0.1"]
        return answers[host].pop(0) if len(answers[host]) > 1 else answers[host][0]

    guard = TargetGuard(resolve=resolve)
    sender = WebhookSender(WebhookSettings(attempts=1), secret=new_secret(), guard=guard, sleep=no_sleep)
    assert not await sender.deliver(f"http://rebind.test:{port}/hook", "m", {})
    assert receiver.received == []
    allowed = TargetGuard(allow_hosts=frozenset({"hooks.test"}), resolve=resolve)
    sender2 = WebhookSender(WebhookSettings(attempts=1), secret=new_secret(), guard=allowed, sleep=no_sleep)
    assert await sender2.deliver(f"http://hooks.test:{port}/hook", "m", {})  # reached via the checked address
    await sender.close()
    await sender2.close()
    assert len(receiver.received) == 1 and receiver.received[0][0]["host"] == f"hooks.test:{port}"
