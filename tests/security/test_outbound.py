"""Outbound safety of user-supplied URLs (image job webhooks): no redirect is followed, IP literals in
any spelling are resolved and checked, and a host that rebinds between attempts is refused.

Everything here connects to this machine only: forbidden targets are checked with addresses that
would land on the local receivers if the guard let them through (0.0.0.0 reaches a listener on
127.0.0.1), so a regression shows up as a request the receiver should never have seen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from alfred.errors import InvalidRequestError
from alfred.images.settings import WebhookSettings
from alfred.images.webhooks import TargetGuard, WebhookSender, new_secret


@dataclass
class Receiver:
    port: int
    hits: list[str] = field(default_factory=list)
    answers: list[web.StreamResponse] = field(default_factory=list)  # given in order, then 204


@pytest.fixture
async def receivers() -> AsyncIterator[tuple[Receiver, Receiver]]:
    """Two local HTTP servers: the webhook target and a would-be internal service."""
    runners = []
    made: list[Receiver] = []
    for _ in range(2):
        receiver = Receiver(0)

        async def handle(request: web.Request, receiver: Receiver = receiver) -> web.StreamResponse:
            receiver.hits.append(request.path)
            return receiver.answers.pop(0) if receiver.answers else web.Response(status=204)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        receiver.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        runners.append(runner)
        made.append(receiver)
    yield made[0], made[1]
    for runner in runners:
        await runner.cleanup()


async def no_sleep(_: float) -> None:
    return None


def sender(guard: TargetGuard, attempts: int = 1) -> WebhookSender:
    return WebhookSender(WebhookSettings(attempts=attempts), secret=new_secret(), guard=guard, sleep=no_sleep)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirects_are_never_followed(receivers: tuple[Receiver, Receiver], status: int) -> None:
    target, internal = receivers

    async def resolve(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    # hooks.test is explicitly allowed; its redirect points at another local service (and at an
    # allowed name on another port): neither may be visited.
    guard = TargetGuard(allow_hosts=frozenset({"hooks.test"}), resolve=resolve)
    for location in (f"http://127.0.0.1:{internal.port}/admin", f"http://hooks.test:{internal.port}/admin"):
        target.answers.append(web.Response(status=status, headers={"location": location}))
        webhooks = sender(guard, attempts=3)
        assert not await webhooks.deliver(f"http://hooks.test:{target.port}/hook", "m", {"x": 1})
        await webhooks.close()
    assert target.hits == ["/hook", "/hook"]  # one attempt each: a 3xx is final, not retried
    assert internal.hits == []


async def test_a_host_that_rebinds_between_attempts_is_refused(receivers: tuple[Receiver, Receiver]) -> None:
    target, _ = receivers
    lookups: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        # The first attempt's two lookups (the check, then the connection) see loopback, which this
        # gateway allows; afterwards the name points at 0.0.0.0, never allowed, which would still
        # reach the receiver if anything connected to it.
        lookups.append(host)
        return ["127.0.0.1"] if len(lookups) <= 2 else ["0.0.0.0"]

    guard = TargetGuard(allow_private=True, resolve=resolve)
    target.answers.append(web.Response(status=503))
    webhooks = sender(guard, attempts=3)
    assert not await webhooks.deliver(f"http://flip.test:{target.port}/hook", "m", {"x": 1})
    await webhooks.close()
    assert target.hits == ["/hook"], target.hits  # the 503, then nothing: the retry was refused
    assert len(lookups) == 3


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.1",
        "2130706433",  # 127.0.0.1 as one decimal number
        "0x7f.0.0.1",
        "0177.0.0.1",  # octal
        "localhost",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "0.0.0.0",
        "[::]",
    ],
)
async def test_loopback_in_any_spelling_is_refused(receivers: tuple[Receiver, Receiver], host: str) -> None:
    target, _ = receivers
    url = f"http://{host}:{target.port}/hook"
    guard = TargetGuard()  # the real resolver; private targets not allowed
    with pytest.raises(InvalidRequestError) as refused:
        await guard.check(url)
    assert refused.value.param == "webhook_url"
    webhooks = sender(guard)
    assert not await webhooks.deliver(url, "m", {"x": 1})
    await webhooks.close()
    assert target.hits == []
