"""The HTTP client webhook deliveries go out on: aiohttp, connecting only to addresses the guard allowed.

Its own module so that aiohttp is imported on the first delivery, not at every start.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import TYPE_CHECKING

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

if TYPE_CHECKING:
    from alfred.images.webhooks import TargetGuard


def guarded_session(guard: TargetGuard, timeout_s: float) -> aiohttp.ClientSession:
    """A session whose every DNS answer went through ``guard``; no DNS cache, no cookies."""
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(guard), use_dns_cache=False)
    # Receivers are other people's servers: nothing one of them sets is sent to the next.
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that only ever returns addresses the guard allowed."""

    def __init__(self, guard: TargetGuard) -> None:
        self._guard = guard

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._guard.addresses(host.lower(), port)
        results: list[ResolveResult] = []
        for text in found:
            address = ipaddress.ip_address(text.split("%")[0])
            fam = socket.AF_INET6 if address.version == 6 else socket.AF_INET
            results.append(
                ResolveResult(
                    hostname=host, host=text, port=port, family=fam, proto=0, flags=socket.AI_NUMERICHOST
                )
            )
        return results

    async def close(self) -> None:
        return None
