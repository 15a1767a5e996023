from __future__ import annotations

from dataclasses import dataclass

import pytest

from alfred.errors import RateLimitError
from alfred.observability.metrics import GatewayMetrics
from alfred.pipeline.call import Call, Identity, Result
from alfred.pipeline.rate_limit import RateLimitStage, go_duration
from alfred.routing.settings import RateLimitSettings, RateValue
from alfred.schema import ChatRequest, ChatResponse, Choice, EmbeddingRequest, Message, ResponseMessage, Usage
from alfred.schema.tokens import estimate_prompt_tokens as _estimate
from alfred.state.memory import MemoryRateLimiter
from tests.unit.state.programs import VirtualClock


def _request(text: str = "hello there", max_tokens: int | None = 100, stream: bool = False) -> ChatRequest:
    return ChatRequest(
        model="gpt-4o", messages=[Message(role="user", content=text)], max_tokens=max_tokens, stream=stream
    )


def _call(
    request: ChatRequest | EmbeddingRequest | None = None,
    *,
    auth: str | None = "Bearer sk-one",
    identity: Identity | None = None,
    ip: str | None = "10.0.0.1",
) -> Call:
    headers = {"authorization": auth} if auth else {}
    return Call("req", "chat", request or _request(), headers, client_ip=ip, identity=identity or Identity())


def estimate_prompt_tokens(request: ChatRequest | EmbeddingRequest) -> int:
    assert isinstance(request, ChatRequest)
    return _estimate(request)


class Upstream:
    """The rest of the pipeline: answers with a fixed usage (as the metering base would set it)."""

    def __init__(self, total_tokens: int = 50, fail: Exception | None = None) -> None:
        self.calls = 0
        self.total_tokens = total_tokens
        self.fail = fail

    async def __call__(self, call: Call) -> Result:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        call.usage = Usage(10, self.total_tokens - 10, self.total_tokens)
        return ChatResponse(id="x", model="m", created=0, choices=[Choice(0, ResponseMessage(content="hi"))])


async def _finish(call: Call) -> None:
    for hook in call.finish_hooks:  # what api/calls.finish does once the response is over
        await hook(call)


def _stage(clock: VirtualClock | None = None, **settings: object) -> RateLimitStage:
    return RateLimitStage(
        MemoryRateLimiter(clock or VirtualClock()), RateLimitSettings.model_validate(settings)
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.02, "20ms"),
        (0.5471, "548ms"),
        (1, "1s"),
        (8.64, "8.64s"),
        (360, "6m0s"),
        (90.5, "1m30.5s"),
        (172.8, "2m52.8s"),
        (3600, "1h0m0s"),
        (3725.25, "1h2m5.25s"),
    ],
)
def test_go_duration(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


async def test_openai_headers_then_429_with_retry_after() -> None:
    stage, upstream = _stage(key={"rpm": 3}), Upstream()
    seen = []
    for _ in range(3):
        call = _call()
        await stage(call, upstream)
        seen.append(call.response_headers)
    assert [h["x-ratelimit-remaining-requests"] for h in seen] == ["2", "1", "0"]
    assert seen[0]["x-ratelimit-limit-requests"] == "3"
    assert [h["x-ratelimit-reset-requests"] for h in seen] == ["20s", "40s", "1m0s"]
    assert "x-ratelimit-limit-tokens" not in seen[0]  # no token limit configured
    call = _call()
    with pytest.raises(RateLimitError) as caught:
        await stage(call, upstream)
    err = caught.value
    assert err.status == 429 and err.code == "rate_limit_exceeded"
    assert err.headers["retry-after"] == "20" and err.headers["retry-after-ms"] == "20000"
    assert err.headers["x-ratelimit-remaining-requests"] == "0"
    assert "Limit 3, Remaining 0, Requested 1" in err.message and "20s" in err.message
    assert upstream.calls == 3  # the refused call never went upstream


async def test_bucket_refills_with_time() -> None:
    clock = VirtualClock()
    stage, upstream = _stage(clock, key={"rpm": 60}), Upstream()
    for _ in range(60):
        await stage(_call(), upstream)
    with pytest.raises(RateLimitError):
        await stage(_call(), upstream)
    clock.advance(1_000)  # 60 rpm refills one request per second
    await stage(_call(), upstream)
    with pytest.raises(RateLimitError):
        await stage(_call(), upstream)


async def test_tokens_reserved_then_corrected_to_real_usage() -> None:
    stage = _stage(key={"tpm": 1000})
    request = _request(max_tokens=100)
    reserved = estimate_prompt_tokens(request) + 100
    call = _call(request)
    await stage(call, Upstream(total_tokens=40))
    assert call.response_headers["x-ratelimit-remaining-tokens"] == str(1000 - reserved)
    await _finish(call)
    nxt = _call(_request(max_tokens=0))
    await stage(nxt, Upstream(total_tokens=0))
    # the first call's reservation was replaced by its 40 real tokens
    assert nxt.response_headers["x-ratelimit-remaining-tokens"] == str(
        1000 - 40 - estimate_prompt_tokens(nxt.request)
    )


async def test_default_completion_reservation_and_n() -> None:
    stage = _stage(key={"tpm": 10_000}, default_completion_tokens=300)
    request = _request(max_tokens=None)
    call = _call(request)
    await stage(call, Upstream())
    assert call.response_headers["x-ratelimit-remaining-tokens"] == str(
        10_000 - estimate_prompt_tokens(request) - 300
    )
    request = ChatRequest(model="gpt-4o", messages=[Message(role="user", content="x")], max_tokens=10, n=3)
    call = _call(request, auth="Bearer sk-other")
    await stage(call, Upstream())
    assert call.response_headers["x-ratelimit-remaining-tokens"] == str(
        10_000 - estimate_prompt_tokens(request) - 30
    )


async def test_stream_corrected_when_it_finishes_and_failure_refunds() -> None:
    stage = _stage(key={"tpm": 1000})
    call = _call(_request(max_tokens=500, stream=True))

    async def streaming(call: Call) -> Result:
        return ChatResponse(id="s", model="m", created=0, choices=[])  # stands in for the stream object

    await stage(call, streaming)
    call.usage = Usage(5, 900, 905)  # the stream delivered more than reserved
    await _finish(call)
    await _finish(call)  # hooks are idempotent
    failed = _call(_request(max_tokens=10))
    with pytest.raises(RuntimeError):
        await stage(failed, Upstream(fail=RuntimeError("upstream broke")))
    assert failed.response_headers["x-ratelimit-remaining-tokens"] == str(
        1000 - 905 - estimate_prompt_tokens(failed.request) - 10
    )
    await _finish(failed)  # no usage: the whole reservation comes back
    probe = _call(_request(max_tokens=0))
    await stage(probe, Upstream(total_tokens=0))
    assert probe.response_headers["x-ratelimit-remaining-tokens"] == str(
        1000 - 905 - estimate_prompt_tokens(probe.request)
    )


async def test_request_larger_than_the_token_limit() -> None:
    stage = _stage(key={"tpm": 100})
    with pytest.raises(RateLimitError, match="Request too large") as caught:
        await stage(_call(_request(max_tokens=5000)), Upstream())
    assert caught.value.headers["retry-after"] == "60"


async def test_before_auth_keys_are_told_apart_by_credential_hash() -> None:
    stage, upstream = _stage(key={"rpm": 1}), Upstream()
    await stage(_call(auth="Bearer sk-one"), upstream)
    await stage(_call(auth="Bearer sk-two"), upstream)
    await stage(_call(auth=None, ip=None), upstream)  # no credential: no key bucket (auth will refuse it)
    with pytest.raises(RateLimitError):
        await stage(_call(auth="bearer sk-one"), upstream)
    anthropic = Call("r", "messages", _request(), {"x-api-key": "sk-two"})
    with pytest.raises(RateLimitError):
        await stage(anthropic, upstream)  # the same key presented Anthropic's way shares its bucket


async def test_after_auth_key_id_and_key_own_limits_win() -> None:
    async def own_limits(call: Call) -> RateValue | None:
        return RateValue(rpm=2) if call.identity.key_id == "vip" else None

    stage = RateLimitStage(
        MemoryRateLimiter(VirtualClock()), RateLimitSettings(key=RateValue(rpm=1)), key_limits=own_limits
    )
    upstream = Upstream()
    for _ in range(2):
        await stage(_call(auth="Bearer a", identity=Identity(key_id="vip")), upstream)
    # a different credential, but auth says it is the same key: same bucket
    with pytest.raises(RateLimitError):
        await stage(_call(auth="Bearer b", identity=Identity(key_id="vip")), upstream)
    await stage(_call(identity=Identity(key_id="plain")), upstream)
    with pytest.raises(RateLimitError):
        await stage(_call(identity=Identity(key_id="plain")), upstream)


async def test_identity_rpm_limit_field_is_read_when_present() -> None:
    @dataclass(slots=True)
    class KeyedIdentity(Identity):
        rpm_limit: int | None = None
        tpm_limit: int | None = None

    stage, upstream = _stage(), Upstream()  # nothing configured at all
    ident = KeyedIdentity(key_id="k", rpm_limit=1)
    await stage(_call(identity=ident), upstream)
    with pytest.raises(RateLimitError):
        await stage(_call(identity=ident), upstream)
    # a key's own token limit applies (with a real estimate) even when config sets no token limits
    tokens_only = KeyedIdentity(key_id="t", tpm_limit=1000)
    call = _call(_request(max_tokens=300), identity=tokens_only)
    await stage(call, upstream)
    assert call.response_headers["x-ratelimit-remaining-tokens"] == str(
        1000 - 300 - estimate_prompt_tokens(call.request)
    )
    with pytest.raises(RateLimitError, match="Request too large"):
        await stage(_call(_request(max_tokens=5000), identity=tokens_only), upstream)


async def test_every_scope_and_all_or_nothing() -> None:
    stage = _stage(
        user={"rpm": 5}, team={"rpm": 3}, ip={"rpm": 100}, model={"rpm": 100}, models={"gpt-4o": {"rpm": 4}}
    )
    upstream = Upstream()
    members = [Identity(user_id=f"u{i}", team_id="t") for i in range(4)]
    for ident in members[:3]:
        await stage(_call(identity=ident), upstream)
    with pytest.raises(RateLimitError, match="team"):
        await stage(_call(identity=members[3]), upstream)
    # the refused call took nothing from the model bucket: one more fits there
    other_team = Identity(user_id="u9", team_id="t2")
    await stage(_call(identity=other_team), upstream)
    with pytest.raises(RateLimitError, match="model"):
        await stage(_call(identity=Identity(user_id="u8", team_id="t3")), upstream)
    unlisted = _call(ChatRequest(model="other", messages=[Message(role="user", content="x")]))
    await stage(unlisted, upstream)
    assert unlisted.response_headers["x-ratelimit-limit-requests"] == "100"


async def test_ip_scope_and_tightest_scope_in_headers() -> None:
    stage = _stage(ip={"rpm": 10, "tpm": 5000}, key={"rpm": 100, "tpm": 100_000})
    call = _call()
    await stage(call, Upstream())
    assert call.response_headers["x-ratelimit-limit-requests"] == "10"
    assert call.response_headers["x-ratelimit-limit-tokens"] == "5000"


async def test_embeddings_tokens_are_estimated() -> None:
    stage = _stage(key={"tpm": 1000})
    call = _call(EmbeddingRequest(model="e", input=["a" * 400, "b" * 40]))
    await stage(call, Upstream())
    assert call.response_headers["x-ratelimit-remaining-tokens"] == str(1000 - 110)
    ids = _call(EmbeddingRequest(model="e", input=[[1, 2, 3], [4, 5]]), auth="Bearer sk-ids")
    await stage(ids, Upstream())
    assert ids.response_headers["x-ratelimit-remaining-tokens"] == str(1000 - 5)


class BrokenLimiter:
    async def acquire(self, charges: object) -> list[object]:
        raise ConnectionError("redis down")

    async def adjust(self, charges: object) -> None:
        raise ConnectionError("redis down")


async def test_backend_failure_fails_open_or_closed_as_configured() -> None:
    upstream = Upstream()
    open_stage = RateLimitStage(BrokenLimiter(), RateLimitSettings(key=RateValue(rpm=1)))  # type: ignore[arg-type]
    for _ in range(3):
        await open_stage(_call(), upstream)
    assert upstream.calls == 3
    closed = RateLimitStage(BrokenLimiter(), RateLimitSettings(key=RateValue(rpm=1), fail_open=False))  # type: ignore[arg-type]
    with pytest.raises(ConnectionError):
        await closed(_call(), upstream)


async def test_disabled_or_unconfigured_passes_through() -> None:
    upstream = Upstream()
    call = _call()
    await _stage(enabled=False, key={"rpm": 1})(call, upstream)
    await _stage(enabled=False, key={"rpm": 1})(call, upstream)
    assert upstream.calls == 2 and call.response_headers == {} and call.finish_hooks == []


async def test_each_refusal_is_reported_once_with_the_scope_that_refused() -> None:
    metrics = GatewayMetrics(groups=["gpt-4o"])
    stage = RateLimitStage(
        MemoryRateLimiter(VirtualClock()),
        RateLimitSettings.model_validate({"team": {"rpm": 1}, "model": {"rpm": 3}, "ip": {"rpm": 100}}),
        rejected=metrics.rate_limited,
    )
    upstream = Upstream()
    await stage(_call(identity=Identity(team_id="t")), upstream)
    with pytest.raises(RateLimitError, match="team"):
        await stage(_call(identity=Identity(team_id="t")), upstream)
    await stage(_call(identity=Identity(team_id="t2")), upstream)
    await stage(_call(identity=Identity(team_id="t3")), upstream)
    for _ in range(2):
        with pytest.raises(RateLimitError, match="model"):
            await stage(_call(identity=Identity(team_id="t4")), upstream)
    body = metrics.render()[0].decode()
    assert 'alfred_rate_limit_rejections_total{scope="team"} 1.0' in body
    assert 'alfred_rate_limit_rejections_total{scope="model"} 2.0' in body
    assert 'scope="ip"' not in body and upstream.calls == 3
