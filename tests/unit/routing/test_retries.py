"""Retries walk the plan, and walk it again while retries are left: a group of one gets its retries."""

from __future__ import annotations

import pytest

from alfred.errors import UpstreamError
from alfred.providers.base import UpstreamRequest
from alfred.providers.transport import Timeouts, UpstreamResponse
from alfred.state.base import BreakerPolicy
from alfred.state.memory import MemoryBreakerStore
from tests.unit.routing.deployments import deployment
from tests.unit.routing.dispatching import ScriptedTransport, catalog, chat_call, dispatcher
from tests.unit.state.programs import VirtualClock

LENIENT = BreakerPolicy(failure_threshold=100)  # the breaker stays out of these tests' way


class FlakyTransport(ScriptedTransport):
    """Fails the first ``failures`` requests to each provider with a 503, then answers."""

    def __init__(self, failures: dict[str, int]) -> None:
        super().__init__()
        self._left = dict(failures)

    async def send(self, request: UpstreamRequest, timeouts: Timeouts, provider: str) -> UpstreamResponse:
        if self._left.get(provider, 0) > 0:
            self._left[provider] -= 1
            self.status[provider] = 503
        else:
            self.status.pop(provider, None)
        return await super().send(request, timeouts, provider)


async def test_a_group_of_one_deployment_is_retried() -> None:
    transport = FlakyTransport({"solo": 2})
    models = catalog(("chat", [deployment("solo")], []))
    dispatch = dispatcher(
        models, transport, MemoryBreakerStore(VirtualClock()), None, retries=2, policy=LENIENT
    )
    call = chat_call()
    await dispatch(call)
    assert transport.sent["solo"] == 3 and call.attempts == 3


async def test_retries_bound_the_attempts_whatever_the_group_size() -> None:
    transport = FlakyTransport({"a": 10, "b": 10})
    models = catalog(("chat", [deployment("a"), deployment("b")], []))
    dispatch = dispatcher(
        models, transport, MemoryBreakerStore(VirtualClock()), None, retries=2, policy=LENIENT
    )
    with pytest.raises(UpstreamError):
        await dispatch(chat_call())
    assert (transport.sent["a"], transport.sent["b"]) == (2, 1)  # a, b, then a again: 3 attempts


async def test_a_second_pass_skips_a_deployment_whose_breaker_opened() -> None:
    transport = FlakyTransport({"a": 10})
    models = catalog(("chat", [deployment("a"), deployment("b")], []))
    opens_at_once = BreakerPolicy(failure_threshold=1)
    dispatch = dispatcher(
        models, transport, MemoryBreakerStore(VirtualClock()), None, retries=3, policy=opens_at_once
    )
    await dispatch(chat_call())
    assert (transport.sent["a"], transport.sent["b"]) == (1, 1)
