"""The Cache stage in the pipeline: hits, misses, bypasses, streams, stale answers, tenants."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from alfred.cache.exact import ExactCache, LruStore
from alfred.cache.settings import CacheSettings
from alfred.errors import UpstreamError
from alfred.pipeline import Pipeline
from alfred.pipeline.cache import CacheStage, bucket_of
from alfred.pipeline.call import Call, Result
from alfred.pipeline.metering import MeteredHandler
from alfred.schema import ChatRequest, ChatResponse, Usage
from tests.unit.cache.support import Upstream, answer_text, chat, drain, finish, make_call
from tests.unit.cache.test_keys import ANSWER_CHANGING, _variant


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def build(**settings: Any) -> tuple[CacheStage, Pipeline, Upstream, Clock]:
    clock = Clock()
    config = CacheSettings(enabled=True, **settings)
    exact = ExactCache(LruStore(100, 1 << 20, clock), stale_ttl_s=config.stale_ttl_s, clock=clock)
    stage = CacheStage(config, exact, clock=clock)
    upstream = Upstream()
    return stage, Pipeline([stage], MeteredHandler(upstream)), upstream, clock


async def run(pipeline: Pipeline, call: Call) -> Result:
    result = await pipeline.run(call)
    if isinstance(result, ChatResponse):
        await finish(call)
    return result


async def test_a_repeat_is_a_hit_served_without_the_upstream() -> None:
    stage, pipeline, upstream, _ = build()
    first = make_call(chat())
    response = await run(pipeline, first)
    assert first.cache_status == "miss" and upstream.calls == 1
    second = make_call(chat(), rid="r2")
    cached = await run(pipeline, second)
    assert upstream.calls == 1
    assert second.cache_status == "hit"
    assert isinstance(cached, ChatResponse) and isinstance(response, ChatResponse)
    assert cached.choices[0].message.content == response.choices[0].message.content
    assert cached.id == "chatcmpl-r2"
    # A hit costs nothing upstream; the quota stage charges the group's cache price.
    assert second.usage == Usage() and cached.usage == Usage()
    note = second.notes["cache_hit"]
    assert note["kind"] == "hit" and note["price_usd"] == Decimal(0)
    assert note["saved_usage"] == Usage(10, 5, 15)
    assert stage.stats.hits == 1 and stage.stats.misses == 1 and stage.stats.prompt_tokens_saved == 10


@pytest.mark.parametrize("field", list(ANSWER_CHANGING))
async def test_changing_any_answer_changing_field_misses(field: str) -> None:
    _, pipeline, upstream, _ = build(cache_temperature=True)
    await run(pipeline, make_call(chat()))
    again = make_call(chat(), rid="same")
    await run(pipeline, again)
    assert again.cache_status == "hit" and upstream.calls == 1  # the control: unchanged hits
    changed = make_call(chat(**_variant(field, ANSWER_CHANGING[field])), rid="changed")
    await run(pipeline, changed)
    assert changed.cache_status == "miss" and upstream.calls == 2


async def test_tenants_never_share_entries_unless_the_group_is_shared() -> None:
    _, pipeline, upstream, _ = build()
    await run(pipeline, make_call(chat(), team="a"))
    other = make_call(chat(), team="b")
    await run(pipeline, other)
    assert other.cache_status == "miss" and upstream.calls == 2

    _, shared_pipeline, shared_upstream, _ = build(shared_groups=["gpt-test"])
    await run(shared_pipeline, make_call(chat(), team="a"))
    other = make_call(chat(), team="b")
    await run(shared_pipeline, other)
    assert other.cache_status == "hit" and shared_upstream.calls == 1


@pytest.mark.parametrize(
    "headers", [{"x-alfred-cache": "off"}, {"X-Alfred-Cache": "off"}, {"cache-control": "no-store"}]
)
async def test_bypass_headers_skip_lookup_and_store(headers: dict[str, str]) -> None:
    _, pipeline, upstream, _ = build()
    lowered = {k.lower(): v for k, v in headers.items()}  # the API layer lower-cases header names
    call = make_call(chat(), headers=lowered)
    await run(pipeline, call)
    assert call.cache_status == "bypass"
    after = make_call(chat())
    await run(pipeline, after)
    assert after.cache_status == "miss" and upstream.calls == 2


async def test_no_cache_refreshes_the_entry() -> None:
    _, pipeline, upstream, _ = build()
    await run(pipeline, make_call(chat()))
    refresh = make_call(chat(), headers={"cache-control": "no-cache"})
    fresh = await run(pipeline, refresh)
    assert refresh.cache_status == "bypass" and upstream.calls == 2
    later = make_call(chat())
    served = await run(pipeline, later)
    assert later.cache_status == "hit"
    assert isinstance(served, ChatResponse) and isinstance(fresh, ChatResponse)
    assert served.choices[0].message.content == fresh.choices[0].message.content  # the refreshed answer (#2)
    assert served.choices[0].message.content is not None and "(#2)" in served.choices[0].message.content


async def test_privacy_mode_never_caches() -> None:
    _, pipeline, upstream, _ = build()
    for rid in ("p1", "p2"):
        call = make_call(chat(), rid=rid)
        call.privacy = True
        await run(pipeline, call)
        assert call.cache_status == "bypass"
    assert upstream.calls == 2


@pytest.mark.parametrize("temperature", [0.7, None])
async def test_warm_requests_bypass_unless_the_group_opts_in(temperature: float | None) -> None:
    _, pipeline, upstream, _ = build()
    for rid in ("w1", "w2"):
        call = make_call(chat(temperature=temperature), rid=rid)
        await run(pipeline, call)
        assert call.cache_status == "bypass" and call.notes["cache_bypass"] == "temperature"
    assert upstream.calls == 2

    _, opted, opted_upstream, _ = build(groups={"gpt-test": {"cache_temperature": True}})
    await run(opted, make_call(chat(temperature=temperature)))
    repeat = make_call(chat(temperature=temperature))
    await run(opted, repeat)
    assert repeat.cache_status == "hit" and opted_upstream.calls == 1


async def test_disabled_group_is_left_alone() -> None:
    _, pipeline, upstream, _ = build(groups={"gpt-test": {"enabled": False}})
    call = make_call(chat())
    await run(pipeline, call)
    await run(pipeline, make_call(chat()))
    assert call.cache_status is None and upstream.calls == 2


async def test_errors_are_not_cached() -> None:
    clock = Clock()
    config = CacheSettings(enabled=True)
    stage = CacheStage(config, ExactCache(LruStore(10, 1 << 20, clock), clock=clock), clock=clock)
    attempts = 0

    async def failing(call: Call) -> Result:
        nonlocal attempts
        attempts += 1
        raise UpstreamError("down")

    pipeline = Pipeline([stage], MeteredHandler(failing))
    for _ in range(2):
        call = make_call(chat())
        with pytest.raises(UpstreamError):
            await pipeline.run(call)
        call.outcome, call.error = "error", UpstreamError("down")
        await finish(call)
    assert attempts == 2


async def test_content_filtered_answers_are_not_cached() -> None:
    stage = build()[0]
    calls = 0

    async def filtered(call: Call) -> Result:
        nonlocal calls
        calls += 1
        response = await Upstream()(call)
        assert isinstance(response, ChatResponse)
        response.choices[0].finish_reason = "content_filter"
        return response

    pipeline = Pipeline([stage], MeteredHandler(filtered))
    for _ in range(2):
        await run(pipeline, make_call(chat()))
    assert calls == 2


async def test_a_streamed_miss_is_stored_and_replayed_as_a_stream() -> None:
    _, pipeline, upstream, _ = build()
    first = make_call(chat(stream=True))
    chunks = await drain(await pipeline.run(first))
    await finish(first)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert first.cache_status == "miss"

    # The same question as JSON hits what the stream stored (stream is not part of the key)...
    as_json = make_call(chat())
    cached = await run(pipeline, as_json)
    assert as_json.cache_status == "hit" and upstream.calls == 1
    assert isinstance(cached, ChatResponse) and cached.choices[0].message.content == streamed

    # ...and a streaming repeat gets it replayed as chunks.
    again = make_call(chat(stream=True), rid="r3")
    replayed = await drain(await pipeline.run(again))
    assert again.cache_status == "hit" and upstream.calls == 1
    assert "".join(c.choices[0].delta.content or "" for c in replayed) == streamed
    assert replayed[0].choices[0].delta.role == "assistant"
    assert replayed[-1].choices[0].finish_reason == "stop"
    assert all(c.id == "chatcmpl-r3" for c in replayed)


async def test_a_cut_stream_is_not_stored() -> None:
    stage = build()[0]
    upstream = Upstream(fail_stream_after=2)
    pipeline = Pipeline([stage], MeteredHandler(upstream))
    call = make_call(chat(stream=True))
    with pytest.raises(UpstreamError):
        await drain(await pipeline.run(call))
    await finish(call)
    upstream.fail_stream_after = None
    later = make_call(chat(stream=True))
    await drain(await pipeline.run(later))
    assert later.cache_status == "miss" and upstream.calls == 2


async def test_an_abandoned_stream_is_not_stored() -> None:
    _, pipeline, upstream, _ = build()
    call = make_call(chat(stream=True))
    result = await pipeline.run(call)
    iterator = result.__aiter__()  # type: ignore[union-attr]
    await iterator.__anext__()
    await iterator.aclose()  # the client went away after one chunk
    await finish(call)
    later = make_call(chat())
    await run(pipeline, later)
    assert later.cache_status == "miss" and upstream.calls == 2


async def test_outer_stages_changing_the_response_do_not_change_the_entry() -> None:
    _, pipeline, _, _ = build()
    call = make_call(chat())
    response = await pipeline.run(call)
    assert isinstance(response, ChatResponse)
    original = response.choices[0].message.content
    response.choices[0].message.content = "restored secret: alice@example.com"  # e.g. PII unmasking
    await finish(call)
    hit = await run(pipeline, make_call(chat()))
    assert isinstance(hit, ChatResponse) and hit.choices[0].message.content == original


async def test_expired_entries_miss_but_serve_stale_when_upstreams_are_down() -> None:
    stage, pipeline, upstream, clock = build(ttl_s=60, stale_ttl_s=600)
    await run(pipeline, make_call(chat()))
    clock.now += 120
    expired = make_call(chat())
    assert await stage.lookup_stale(expired) is not None and expired.cache_status == "stale"
    assert stage.stats.stale_hits == 1
    miss = make_call(chat())
    await run(pipeline, miss)
    assert miss.cache_status == "miss" and upstream.calls == 2
    clock.now += 10_000
    assert await stage.lookup_stale(make_call(chat(text="never asked"))) is None
    assert await stage.lookup_stale(make_call(chat(), team="b")) is None


async def test_stale_lookup_streams_when_the_request_streams() -> None:
    stage, pipeline, _, clock = build(ttl_s=1)
    await run(pipeline, make_call(chat()))
    clock.now += 5
    call = make_call(chat(stream=True))
    result = await stage.lookup_stale(call)
    assert result is not None and not isinstance(result, ChatResponse)
    text = "".join(c.choices[0].delta.content or "" for c in await drain(result))
    assert text.startswith(answer_text(chat()))


async def test_a_broken_store_never_fails_the_request() -> None:
    class Broken:
        async def get(self, key: str) -> bytes | None:
            raise ConnectionError("redis is down")

        async def set(
            self, key: str, value: bytes, ttl_s: float | None = None, *, only_new: bool = False
        ) -> bool:
            raise ConnectionError("redis is down")

        async def delete(self, key: str) -> bool:
            raise ConnectionError("redis is down")

        async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
            raise ConnectionError("redis is down")

    clock = Clock()
    stage = CacheStage(
        CacheSettings(enabled=True),
        ExactCache(LruStore(10, 1 << 20, clock), Broken(), clock=clock),
        clock=clock,
    )
    upstream = Upstream()
    pipeline = Pipeline([stage], MeteredHandler(upstream))
    call = make_call(chat())
    assert isinstance(await run(pipeline, call), ChatResponse)
    assert call.cache_status == "miss"
    # L1 kept the answer even though L2 refused it.
    again = make_call(chat())
    await run(pipeline, again)
    assert again.cache_status == "hit" and upstream.calls == 1


async def test_cache_price_and_money_saved() -> None:
    clock = Clock()
    config = CacheSettings(enabled=True, groups={"gpt-test": {"price_per_hit_usd": "0.0001"}})

    def cost(group: str, usage: Usage) -> Decimal:
        return Decimal(usage.prompt_tokens) * Decimal("0.000001") + Decimal(
            usage.completion_tokens
        ) * Decimal("0.000002")

    stage = CacheStage(
        config, ExactCache(LruStore(10, 1 << 20, clock), clock=clock), cost_of=cost, clock=clock
    )
    pipeline = Pipeline([stage], MeteredHandler(Upstream()))
    await run(pipeline, make_call(chat()))
    hit = make_call(chat())
    await run(pipeline, hit)
    assert hit.notes["cache_hit"]["price_usd"] == Decimal("0.0001")
    assert stage.stats.usd_saved == Decimal("0.000020")
    assert stage.stats.snapshot()["usd_saved"] == "0.000020"


def test_similarity_buckets() -> None:
    assert bucket_of(0.999) == ">=0.99"
    assert bucket_of(0.955) == ">=0.95"
    assert bucket_of(0.91) == ">=0.9"


async def test_embeddings_pass_through() -> None:
    stage, _, _, _ = build()
    import msgspec

    from alfred.schema import EmbeddingRequest, EmbeddingResponse, EmbeddingUsage

    request = msgspec.convert({"model": "e", "input": "hi"}, EmbeddingRequest)
    call = Call("e1", "embeddings", request, {})

    async def embed(call: Call) -> Result:
        return EmbeddingResponse(data=[], model="e", usage=EmbeddingUsage())

    assert isinstance(await stage(call, embed), EmbeddingResponse)
    assert call.cache_status is None


def test_request_type_for_the_helpers() -> None:
    assert isinstance(chat(), ChatRequest)


async def test_an_answer_an_outer_stage_refused_is_not_stored() -> None:
    from alfred.errors import ContentPolicyError
    from alfred.pipeline.stage import Next

    class Refuse:
        name = "refuse"

        async def __call__(self, call: Call, next: Next) -> Result:
            await next(call)
            raise ContentPolicyError("the answer broke a policy")

    stage, _, _, _ = build()
    upstream = Upstream()
    pipeline = Pipeline([Refuse(), stage], MeteredHandler(upstream))
    call = make_call(chat())
    with pytest.raises(ContentPolicyError) as info:
        await pipeline.run(call)
    call.outcome, call.error = "error", info.value  # what the API layer records before the hooks
    await finish(call)
    later = make_call(chat())
    await Pipeline([stage], MeteredHandler(upstream)).run(later)
    assert later.cache_status == "miss" and upstream.calls == 2


async def test_an_expired_answer_is_served_when_every_deployment_fails() -> None:
    from alfred.errors import InvalidRequestError, ServiceUnavailableError

    stage, pipeline, _, clock = build(ttl_s=60, stale_ttl_s=600)
    await run(pipeline, make_call(chat()))
    clock.now += 120
    failure: Exception = ServiceUnavailableError("all deployments are down")

    async def down(call: Call) -> Result:
        raise failure

    call = make_call(chat())
    result = await Pipeline([stage], MeteredHandler(down)).run(call)
    assert isinstance(result, ChatResponse) and call.cache_status == "stale"
    assert call.notes["cache_stale_after"] == "service_unavailable" and call.usage == Usage()
    # A client error is the client's to see, and a question never answered has nothing to fall back on.
    failure = InvalidRequestError("bad request")
    with pytest.raises(InvalidRequestError):
        await Pipeline([stage], MeteredHandler(down)).run(make_call(chat()))
    failure = ServiceUnavailableError("down")
    with pytest.raises(ServiceUnavailableError):
        await Pipeline([stage], MeteredHandler(down)).run(make_call(chat("never asked")))
    # Switched off, the error goes through.
    off_stage, off_pipeline, _, off_clock = build(ttl_s=60, serve_stale=False)
    await run(off_pipeline, make_call(chat()))
    off_clock.now += 120
    with pytest.raises(ServiceUnavailableError):
        await Pipeline([off_stage], MeteredHandler(down)).run(make_call(chat()))
