"""Signed job callbacks to a request's ``webhook_url``: Standard Webhooks signatures, SSRF-safe delivery.

Signing follows the Standard Webhooks spec (standardwebhooks.com): headers ``webhook-id``,
``webhook-timestamp`` (Unix seconds) and ``webhook-signature: v1,<base64 HMAC-SHA256>`` over
``"{id}.{timestamp}.{body}"`` with the key from a ``whsec_<base64>`` secret, so receivers can verify
with any Standard Webhooks library. The id is stable across retries (``<job id>.<state>``).

SSRF: the target's host is resolved and every address checked; loopback, private, link-local,
CGNAT, multicast and reserved addresses are refused unless ``allow_private_targets`` (cloud metadata
addresses are refused always). The connection is made to the addresses that were checked (a
resolver that re-checks on every lookup), so DNS rebinding cannot swap in an internal address;
redirects are not followed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import logging
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import msgspec

from alfred.errors import InvalidRequestError
from alfred.images.settings import WebhookSettings

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger("alfred.images.webhooks")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
_RETRY_STATUSES = frozenset({408, 409, 425, 429})
_encoder = msgspec.json.Encoder()


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class WebhookSigner:
    """Signs and verifies Standard Webhooks messages with one ``whsec_`` secret."""

    def __init__(self, secret: str) -> None:
        encoded = secret.removeprefix("whsec_")
        try:
            self._key = base64.b64decode(encoded, validate=True)
        except ValueError as exc:
            raise ValueError("a webhook secret is whsec_ followed by base64") from exc
        if len(self._key) < 16:
            raise ValueError("a webhook secret needs at least 16 bytes of key")

    def signature(self, msg_id: str, timestamp: int, body: bytes) -> str:
        signed = f"{msg_id}.{timestamp}.".encode() + body
        return "v1," + base64.b64encode(hmac.new(self._key, signed, hashlib.sha256).digest()).decode()

    def headers(self, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": self.signature(msg_id, timestamp, body),
            "content-type": "application/json",
        }

    def verify(self, headers: Mapping[str, str], body: bytes, now: float, tolerance_s: float = 300) -> None:
        """Raise ``ValueError`` unless a signature matches and the timestamp is fresh."""
        lowered = {k.lower(): v for k, v in headers.items()}
        msg_id, stamp, signatures = (
            lowered.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature")
        )
        if not msg_id or not stamp or not signatures:
            raise ValueError("missing webhook-id, webhook-timestamp or webhook-signature")
        try:
            timestamp = int(stamp)
        except ValueError:
            raise ValueError("webhook-timestamp is not an integer") from None
        if abs(now - timestamp) > tolerance_s:
            raise ValueError("webhook-timestamp is outside the tolerance (stale or from the future)")
        expected = self.signature(msg_id, timestamp, body)
        if not any(hmac.compare_digest(expected, given) for given in signatures.split()):
            raise ValueError("no webhook signature matches")


def address_allowed(address: IPAddress, allow_private: bool) -> bool:
    """Whether a callback may connect to ``address``."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None:
            return address_allowed(embedded, allow_private)
    if address in _METADATA or address.is_link_local or address.is_multicast or address.is_unspecified:
        return False
    if address.is_global:
        return True
    if address.is_reserved and not address.is_private:
        return False
    return allow_private


Resolve = Callable[[str, int], Awaitable[list[str]]]


async def system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class TargetGuard:
    """Checks callback URLs and the addresses their hosts resolve to."""

    def __init__(
        self,
        allow_private: bool = False,
        allow_hosts: frozenset[str] = frozenset(),
        resolve: Resolve = system_resolve,
    ) -> None:
        self._allow_private = allow_private
        self._allow_hosts = frozenset(h.lower() for h in allow_hosts)
        self._resolve = resolve

    def check_syntax(self, url: str) -> tuple[str, int]:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidRequestError("webhook_url: must be an http or https URL", param="webhook_url")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise InvalidRequestError("webhook_url: invalid port", param="webhook_url") from None
        return parts.hostname.lower(), port

    async def addresses(self, host: str, port: int) -> list[str]:
        """The host's addresses, all of them allowed, else ``InvalidRequestError`` naming the field."""
        try:
            found = await self._resolve(host, port)
        except OSError:
            raise InvalidRequestError(f"webhook_url: cannot resolve {host!r}", param="webhook_url") from None
        if not found:
            raise InvalidRequestError(f"webhook_url: {host!r} has no address", param="webhook_url")
        if host in self._allow_hosts:
            return found
        for text in found:
            if not address_allowed(ipaddress.ip_address(text.split("%")[0]), self._allow_private):
                raise InvalidRequestError(
                    f"webhook_url: {host!r} resolves to a private, loopback or reserved address",
                    param="webhook_url",
                )
        return found

    async def check(self, url: str) -> None:
        host, port = self.check_syntax(url)
        await self.addresses(host, port)


class WebhookSender:
    """Delivers job callbacks in the background with retries; ``close`` waits for deliveries in flight."""

    def __init__(
        self,
        settings: WebhookSettings,
        *,
        secret: str | None = None,
        guard: TargetGuard | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._settings = settings
        secret = secret or settings.secret
        self.signer = WebhookSigner(secret) if secret else None
        self.guard = guard or TargetGuard(settings.allow_private_targets, frozenset(settings.allow_hosts))
        self._clock = clock
        self._sleep = sleep
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[bool]] = set()

    @property
    def enabled(self) -> bool:
        return self.signer is not None

    async def validate(self, url: str) -> None:
        """At submit time: refuse a URL that cannot be delivered to, naming the field."""
        if self.signer is None:
            raise InvalidRequestError(
                "webhook_url: webhooks are not configured on this gateway", param="webhook_url"
            )
        await self.guard.check(url)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # Imported on the first delivery: aiohttp costs ~0.2 s of every start, and only
            # webhooks use it.
            from alfred.images.webhook_client import guarded_session

            self._session = guarded_session(self.guard, self._settings.timeout_s)
        return self._session

    def send(self, url: str, msg_id: str, payload: dict[str, Any]) -> asyncio.Task[bool]:
        """Start delivering in the background; the task's result says whether it was accepted."""
        task = asyncio.ensure_future(self.deliver(url, msg_id, payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def deliver(self, url: str, msg_id: str, payload: dict[str, Any]) -> bool:
        """Post until a 2xx, a non-retryable answer, or the attempts run out."""
        if self.signer is None:
            return False
        import aiohttp  # loaded by _client's first call; here for its ClientError

        body = _encoder.encode(payload)
        for attempt in range(self._settings.attempts):
            if attempt:
                await self._sleep(self._settings.backoff_s * 2 ** (attempt - 1))
            headers = self.signer.headers(msg_id, int(self._clock()), body)
            try:
                # aiohttp skips the resolver for IP literals, so check here too; for names the
                # guarded resolver checks the very addresses it connects to
                await self.guard.check(url)
                async with self._client().post(
                    url, data=body, headers=headers, allow_redirects=False
                ) as resp:
                    if 200 <= resp.status < 300:
                        return True
                    if resp.status < 500 and resp.status not in _RETRY_STATUSES:
                        log.warning("webhook %s refused with %s; not retried", msg_id, resp.status)
                        return False
            except InvalidRequestError as exc:  # the host now resolves somewhere forbidden
                log.warning("webhook %s not sent: %s", msg_id, exc.message)
                return False
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.info("webhook %s attempt %d failed: %s", msg_id, attempt + 1, exc)
        log.warning("webhook %s gave up after %d attempts", msg_id, self._settings.attempts)
        return False

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
