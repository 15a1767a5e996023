"""The stream-limit stage on its own: slots are taken per key, given back exactly once however the
call ends, and the counter heals after its lease lapses. (Through a gateway: test_abuse_limits.)"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from alfred.errors import RateLimitError, UpstreamError
from alfred.pipeline import Call, Pipeline
from alfred.pipeline.stream_limit import CODE, StreamLimitSettings, StreamLimitStage
from alfred.schema import ChatRequest, ChatResponse
from alfred.state.memory import MemoryKeyValueStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def request(stream: bool = True) -> ChatRequest:
    return msgspec.convert(
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": stream}, ChatRequest
    )


def call(headers: dict[str, str] | None = None, stream: bool = True, ip: str | None = "10.0.0.1") -> Call:
    return Call(
        "rid", "chat", request(stream), headers if headers is not None else {"authorization": "Bearer k1"}, ip
    )


async def answer(call: Call) -> Any:
    return ChatResponse(id="x", model="m", choices=[], created=0)


async def finish(c: Call) -> None:
    for hook in c.finish_hooks:
        await hook(c)


async def test_slots_are_per_key_and_come_back_when_the_stream_ends() -> None:
    kv = MemoryKeyValueStore(Clock())
    pipeline = Pipeline([StreamLimitStage(kv, StreamLimitSettings(max_per_key=2))], answer)
    first, second = call(), call()
    await pipeline.run(first)
    await pipeline.run(second)
    with pytest.raises(RateLimitError) as refused:
        await pipeline.run(call())
    assert refused.value.code == CODE and refused.value.headers["retry-after"] == "1"
    await pipeline.run(call({"x-api-key": "k2"}))  # another key
    await pipeline.run(call(stream=False))  # not a stream
    await finish(first)
    await finish(first)  # finishing twice gives back one slot, not two
    await pipeline.run(call())
    with pytest.raises(RateLimitError):
        await pipeline.run(call())


async def test_a_call_that_fails_before_streaming_gives_its_slot_back_at_once() -> None:
    kv = MemoryKeyValueStore(Clock())

    async def broken(call: Call) -> Any:
        raise UpstreamError("every deployment failed")

    stage = StreamLimitStage(kv, StreamLimitSettings(max_per_key=1))
    failing = call()
    with pytest.raises(UpstreamError):
        await Pipeline([stage], broken).run(failing)
    await Pipeline([stage], answer).run(call())  # the slot is free without any finish hook running
    await finish(failing)  # and the endpoint's later finish does not free a slot it no longer holds
    with pytest.raises(RateLimitError):
        await Pipeline([stage], answer).run(call())


async def test_the_counter_heals_when_its_lease_lapses_under_open_streams() -> None:
    clock = Clock()
    kv = MemoryKeyValueStore(clock)
    stage = StreamLimitStage(kv, StreamLimitSettings(max_per_key=1, lease_s=60))
    pipeline = Pipeline([stage], answer)
    old = call()
    await pipeline.run(old)
    clock.now += 61  # the counter lapses while `old` is still streaming
    new = call()
    await pipeline.run(new)
    await finish(old)  # would take the counter to -1
    await finish(new)
    await pipeline.run(call())  # back at zero: exactly one slot
    with pytest.raises(RateLimitError):
        await pipeline.run(call())


def test_who_holds_the_slot() -> None:
    stage = StreamLimitStage(MemoryKeyValueStore(), StreamLimitSettings(), key_hash_secret=b"s")
    bearer = stage.holder(call({"authorization": "Bearer sk-secret-value"}))
    assert bearer.startswith("cred:") and "sk-secret-value" not in bearer
    assert stage.holder(call({"x-api-key": "sk-secret-value"})) == bearer
    assert stage.holder(call({})) == "ip:10.0.0.1"
    keyed = call({"authorization": "Bearer sk-secret-value"})
    keyed.identity.key_id = "key_123"
    assert stage.holder(keyed) == "key:key_123"
    other_secret = StreamLimitStage(MemoryKeyValueStore(), StreamLimitSettings(), key_hash_secret=b"t")
    assert other_secret.holder(call({"x-api-key": "sk-secret-value"})) != bearer


async def test_an_unreachable_state_backend_fails_open_or_closed_as_configured() -> None:
    class Down(MemoryKeyValueStore):
        async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
            raise ConnectionError("redis is down")

    await Pipeline([StreamLimitStage(Down(), StreamLimitSettings())], answer).run(call())
    with pytest.raises(ConnectionError):
        await Pipeline([StreamLimitStage(Down(), StreamLimitSettings(fail_open=False))], answer).run(call())
