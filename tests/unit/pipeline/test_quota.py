"""The quota stage over a real ledger (SQLite): reserve → settle / release, refusals before the upstream,
idempotent retries, streams (finished and abandoned), cache hits, headers and the quota cascade."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import msgspec
import pytest
from sqlalchemy import select

from alfred.cache.exact import ExactCache, LruStore
from alfred.cache.settings import CacheSettings
from alfred.config import Settings
from alfred.errors import InsufficientQuotaError, UpstreamError
from alfred.governance.costing import Costing, PriceNotConfiguredError
from alfred.governance.settings import QuotaSettings
from alfred.ledger import Ledger, LedgerSettings
from alfred.ledger.pricing import cost_micros
from alfred.ledger.settings import LeaseSettings, ModelPrice
from alfred.ledger.tables import LedgerTransaction, Reservation
from alfred.pipeline import Pipeline
from alfred.pipeline.cache import CacheStage
from alfred.pipeline.call import Call, Identity, Result
from alfred.pipeline.metering import MeteredHandler
from alfred.pipeline.quota import (
    COST_HEADER,
    WARNING_HEADER,
    DuplicateRequestError,
    QuotaStage,
    ledger_request_id,
)
from alfred.routing.catalog import ModelCatalog
from alfred.schema import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Choice,
    ChunkChoice,
    Delta,
    EmbeddingRequest,
    ResponseMessage,
    Usage,
)
from alfred.schema.embeddings import Embedding, EmbeddingResponse, EmbeddingUsage
from alfred.schema.tokens import estimate_prompt_tokens
from alfred.secrets import SecretResolver
from alfred.state.db import migrate

KEY_SECRET = "unit-test-secret-of-16+-bytes"
PRICE = ModelPrice(input_per_mtok=Decimal("1.00"), output_per_mtok=Decimal("2.00"))  # 100 / 200 µ¢ a token
DEAR = ModelPrice(input_per_mtok=Decimal("10"), output_per_mtok=Decimal("20"))
UPSTREAM_USAGE = Usage(10, 5, 15)
UPSTREAM_COST = 10 * 100 + 5 * 200  # micro-credits
CREDIT = 1_000_000


def _settings() -> Settings:
    provider = {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": "sk-unit"}
    price = {"input_per_mtok": "1.00", "output_per_mtok": "2.00"}
    return Settings.model_validate(
        {
            "providers": {"up": provider},
            "models": [
                {"name": "priced", "deployments": [{"provider": "up", "model": "up-model"}], "price": price},
                {
                    "name": "cheap",
                    "deployments": [{"provider": "up", "model": "up-cheap"}],
                    "price": price,
                    "fallbacks": ["dear"],
                },
                {
                    "name": "dear",
                    "deployments": [{"provider": "up", "model": "up-dear"}],
                    "price": {"input_per_mtok": "10", "output_per_mtok": "20"},
                },
                {"name": "listed", "deployments": [{"provider": "up", "model": "gpt-4o-mini"}]},
                {
                    "name": "demo-chat",
                    "demo": True,
                    "deployments": [{"provider": "up", "model": "demo-chat"}],
                },
                {"name": "mystery", "deployments": [{"provider": "up", "model": "mystery-model"}]},
                {
                    "name": "embed",
                    "kind": "embeddings",
                    "price": {"input_per_mtok": "0.5"},
                    "deployments": [{"provider": "up", "model": "up-embed"}],
                },
            ],
        }
    )


CATALOG = ModelCatalog.from_settings(_settings(), SecretResolver())


class Upstream:
    """Stands in for the dispatcher: names the deployment that answered, answers or fails, and counts."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail: Exception | None = None
        self.gate: asyncio.Event | None = None
        self.stream_usage: Usage | None = Usage(8, 6, 14)
        self.during: Callable[[], Awaitable[None]] | None = None

    async def __call__(self, call: Call) -> Result:
        self.calls += 1
        group = CATALOG.get(call.request.model)
        deployment = group.deployments[0]
        call.model_group, call.deployment_id = group.name, deployment.id
        call.provider, call.upstream_model = deployment.endpoint.provider, deployment.endpoint.model
        if self.gate is not None:
            await self.gate.wait()
        if self.during is not None:
            await self.during()
        if self.fail is not None:
            raise self.fail
        if isinstance(call.request, EmbeddingRequest):
            return EmbeddingResponse(
                data=[Embedding(0, [0.1, 0.2])], model="up-embed", usage=EmbeddingUsage(12, 12)
            )
        assert isinstance(call.request, ChatRequest)
        if call.request.stream:
            return ChunkList(self.stream_usage)
        message = ResponseMessage(content="four words of answer")
        return ChatResponse(
            id="up",
            model="up-model",
            created=1,
            choices=[Choice(index=0, message=message)],
            usage=UPSTREAM_USAGE,
        )


class ChunkList:
    """A six-chunk stream of 8-character pieces, the last chunk carrying the provider's usage."""

    def __init__(self, usage: Usage | None) -> None:
        self._usage = usage
        self.complete = False

    async def __aiter__(self) -> AsyncIterator[ChatChunk]:
        for i in range(6):
            yield ChatChunk(
                id="up", model="up-model", created=1,
                choices=[ChunkChoice(index=0, delta=Delta(content=f"piece {i}:"))],
            )  # fmt: skip
        yield ChatChunk(id="up", model="up-model", created=1, choices=[], usage=self._usage)
        self.complete = True

    async def aclose(self) -> None:
        return None


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[Ledger]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    await migrate(url)
    # The per-request path (a reservation row per request, ``reserved`` back to 0 after each): credit
    # leases have their own tests (tests/unit/ledger/test_leases.py, the gateway invariants).
    settings = LedgerSettings(database_url=url, leases=LeaseSettings(enabled=False))
    built = Ledger.build(settings, key_secret=KEY_SECRET)
    yield built
    await built.close()


Build = Callable[..., tuple[Pipeline, Upstream]]


@pytest.fixture
def build(ledger: Ledger) -> Build:
    def make(
        *, cache: CacheSettings | None = None, quota: QuotaSettings | None = None
    ) -> tuple[Pipeline, Upstream]:
        settings = quota or QuotaSettings()
        costing = Costing(CATALOG, LedgerSettings(), settings)
        stages: list[Any] = [QuotaStage(ledger.governance, ledger.wallets, costing, settings)]
        if cache is not None:
            exact = ExactCache(LruStore(100, 1 << 20))
            stages.append(CacheStage(cache, exact))
        upstream = Upstream()
        return Pipeline(stages, MeteredHandler(upstream)), upstream

    return make


def chat(model: str = "priced", text: str = "hi", **fields: Any) -> ChatRequest:
    body = {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 10, **fields}
    return msgspec.convert(body, ChatRequest)


def call_for(
    request: ChatRequest | EmbeddingRequest,
    user_id: int | None,
    *,
    rid: str = "req-1",
    headers: dict[str, str] | None = None,
    key_id: int | None = None,
    team_id: int | None = None,
) -> Call:
    identity = Identity(
        user_id=str(user_id) if user_id is not None else None,
        key_id=str(key_id) if key_id is not None else None,
        team_id=str(team_id) if team_id is not None else None,
        kind="key" if user_id is not None else "anonymous",
    )
    endpoint = "embeddings" if isinstance(request, EmbeddingRequest) else "chat"
    return Call(rid, endpoint, request, headers or {}, identity=identity)


async def finish(call: Call) -> None:
    """What the API layer does once a response is delivered (or abandoned)."""
    for hook in call.finish_hooks:
        await hook(call)


def reserve_for(request: ChatRequest) -> int:
    """The stage's worst case for a ``priced`` chat request."""
    return cost_micros(PRICE, estimate_prompt_tokens(request), request.output_limit() or 0)


async def balance(ledger: Ledger, wallet_id: int | None) -> tuple[int, int]:
    assert wallet_id is not None
    info = await ledger.accounts.get(wallet_id)
    return info.balance, info.reserved


async def transactions(ledger: Ledger, kind: str = "charge") -> list[LedgerTransaction]:
    async with ledger.db.session() as session:
        rows = await session.execute(select(LedgerTransaction).where(LedgerTransaction.type == kind))
        return list(rows.scalars())


async def reservations(ledger: Ledger) -> dict[str, str]:
    async with ledger.db.session() as session:
        rows = await session.execute(select(Reservation.request_id, Reservation.state))
        return {rid: state for rid, state in rows.all()}


async def test_a_request_is_reserved_then_settled_at_its_real_cost(ledger: Ledger, build: Build) -> None:
    pipeline, upstream = build()
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=CREDIT)
    call = call_for(chat(), user.id)
    seen: list[tuple[int, int]] = []

    async def peek() -> None:  # what the wallet looks like while the upstream works
        seen.append(await balance(ledger, user.wallet_id))

    upstream.during = peek
    result = await pipeline.run(call)

    assert isinstance(result, ChatResponse)
    assert seen == [(CREDIT, reserve_for(chat()))]  # held up front, the worst case
    assert await balance(ledger, user.wallet_id) == (CREDIT - UPSTREAM_COST, 0)
    assert call.response_headers[COST_HEADER] == "0.002"  # 2000 micro-credits, exact
    assert call.cost_micros == UPSTREAM_COST
    [charge] = await transactions(ledger)
    assert charge.amount == UPSTREAM_COST and charge.request_id == ledger_request_id(user.id, "req-1")
    assert (charge.prompt_tokens, charge.completion_tokens, charge.provider) == (10, 5, "up")
    assert await reservations(ledger) == {ledger_request_id(user.id, "req-1"): "settled"}
    assert (await ledger.check()).healthy


async def test_a_wallet_that_cannot_cover_the_worst_case_is_refused_before_the_upstream(
    ledger: Ledger, build: Build
) -> None:
    pipeline, upstream = build()
    request = chat(max_tokens=1000)
    user = await ledger.directory.create_user("poor@x.io", "Poor", personal_quota=reserve_for(request) - 1)
    with pytest.raises(InsufficientQuotaError) as refused:
        await pipeline.run(call_for(request, user.id))
    assert refused.value.status == 402 and refused.value.code == "insufficient_quota"
    assert upstream.calls == 0
    assert await balance(ledger, user.wallet_id) == (reserve_for(request) - 1, 0)
    assert len(await ledger.audit.recent(event_type="budget.refused")) == 1
    # The control: exactly the worst case is enough.
    rich = await ledger.directory.create_user("rich@x.io", "Rich", personal_quota=reserve_for(request))
    await pipeline.run(call_for(request, rich.id))
    assert upstream.calls == 1


async def test_a_failed_call_releases_everything(ledger: Ledger, build: Build) -> None:
    pipeline, upstream = build()
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=CREDIT)
    upstream.fail = UpstreamError("upstream down", status=503)
    with pytest.raises(UpstreamError):
        await pipeline.run(call_for(chat(), user.id))
    assert await balance(ledger, user.wallet_id) == (CREDIT, 0)
    assert await reservations(ledger) == {ledger_request_id(user.id, "req-1"): "released"}
    assert await transactions(ledger) == []


async def test_a_client_retry_of_a_served_request_is_refused_and_never_charged_twice(
    ledger: Ledger, build: Build
) -> None:
    pipeline, upstream = build()
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=CREDIT)
    await pipeline.run(call_for(chat(), user.id, rid="same"))
    with pytest.raises(DuplicateRequestError) as again:
        await pipeline.run(call_for(chat(), user.id, rid="same"))
    assert again.value.status == 409 and again.value.headers["x-should-retry"] == "false"
    assert upstream.calls == 1
    assert len(await transactions(ledger)) == 1
    assert await balance(ledger, user.wallet_id) == (CREDIT - UPSTREAM_COST, 0)


async def test_a_retry_after_a_failure_runs_again_and_is_charged_once(ledger: Ledger, build: Build) -> None:
    pipeline, upstream = build()
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=CREDIT)
    upstream.fail = UpstreamError("upstream down", status=503)
    with pytest.raises(UpstreamError):
        await pipeline.run(call_for(chat(), user.id, rid="flaky"))
    upstream.fail = None
    await pipeline.run(call_for(chat(), user.id, rid="flaky"))
    base = ledger_request_id(user.id, "flaky")
    assert await reservations(ledger) == {base: "released", f"{base}#2": "settled"}
    assert [t.amount for t in await transactions(ledger)] == [UPSTREAM_COST]
    # …and the retry that follows a success is a duplicate again.
    with pytest.raises(DuplicateRequestError):
        await pipeline.run(call_for(chat(), user.id, rid="flaky"))
    assert upstream.calls == 2


async def test_a_duplicate_while_the_first_is_in_flight_is_refused(ledger: Ledger, build: Build) -> None:
    pipeline, upstream = build()
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=CREDIT)
    upstream.gate = asyncio.Event()
    first = asyncio.create_task(pipeline.run(call_for(chat(), user.id, rid="twin")))
    while upstream.calls == 0:
        await asyncio.sleep(0.001)
    with pytest.raises(DuplicateRequestError) as twin:
        await pipeline.run(call_for(chat(), user.id, rid="twin"))
    assert twin.value.code == "request_in_progress"
    upstream.gate.set()
    await first
    assert upstream.calls == 1 and len(await transactions(ledger)) == 1


async def test_two_users_may_choose_the_same_request_id(ledger: Ledger, build: Build) -> None:
    pipeline, upstream = build()
    a = await ledger.directory.create_user("a@x.io", "A", personal_quota=CREDIT)
    b = await ledger.directory.create_user("b@x.io", "B", personal_quota=CREDIT)
    await pipeline.run(call_for(chat(), a.id, rid="1"))
    await pipeline.run(call_for(chat(), b.id, rid="1"))
    assert upstream.calls == 2
    assert (
        await balance(ledger, a.wallet_id)
        == await balance(ledger, b.wallet_id)
        == (CREDIT - UPSTREAM_COST, 0)
    )


async def test_a_stream_is_charged_at_its_end_from_the_providers_usage(ledger: Ledger, build: Build) -> None:
    pipeline, _ = build()
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=CREDIT)
    call = call_for(chat(stream=True), user.id)
    result = await pipeline.run(call)
    assert COST_HEADER not in call.response_headers  # unknown when the headers go out
    assert (await balance(ledger, user.wallet_id))[1] == reserve_for(chat())
    chunks = [chunk async for chunk in result]  # type: ignore[union-attr]
    assert len(chunks) == 7
    await finish(call)
    assert await balance(ledger, user.wallet_id) == (CREDIT - (8 * 100 + 6 * 200), 0)


async def test_a_client_that_leaves_mid_stream_pays_for_what_was_generated(
    ledger: Ledger, build: Build
) -> None:
    pipeline, _ = build()
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=CREDIT)
    call = call_for(chat(stream=True), user.id)
    result = await pipeline.run(call)
    stream = cast(AsyncGenerator[ChatChunk, None], result.__aiter__())  # type: ignore[union-attr]
    await stream.__anext__()
    await stream.__anext__()
    await stream.aclose()  # the client went away after two chunks
    await finish(call)
    prompt = estimate_prompt_tokens(chat())
    completion = (2 * len("piece 0:") + 3) // 4
    assert call.outcome == "cancelled" and call.usage is not None  # the metering below was closed too
    assert await balance(ledger, user.wallet_id) == (CREDIT - cost_micros(PRICE, prompt, completion), 0)


async def test_a_stream_abandoned_before_its_metering_closed_is_charged_from_the_count(
    ledger: Ledger, build: Build
) -> None:
    # The API may run the finish hooks while an abandoned generator still waits to be finalised.
    pipeline, _ = build()
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=CREDIT)
    call = call_for(chat(stream=True), user.id)
    result = await pipeline.run(call)
    stream = cast(AsyncGenerator[ChatChunk, None], result.__aiter__())  # type: ignore[union-attr]
    for _ in range(3):
        await stream.__anext__()
    assert call.usage is None
    await finish(call)
    await stream.aclose()
    completion = (3 * len("piece 0:") + 3) // 4
    expected = cost_micros(PRICE, estimate_prompt_tokens(chat()), completion)
    assert await balance(ledger, user.wallet_id) == (CREDIT - expected, 0)


async def test_a_stream_that_fails_before_any_chunk_is_released(ledger: Ledger, build: Build) -> None:
    pipeline, _ = build()
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=CREDIT)
    call = call_for(chat(stream=True), user.id)
    await pipeline.run(call)
    call.outcome, call.error = "error", UpstreamError("the client never read it")
    await finish(call)
    assert await balance(ledger, user.wallet_id) == (CREDIT, 0)
    assert set((await reservations(ledger)).values()) == {"released"}


async def test_a_cache_hit_is_charged_the_cache_price_and_recorded_as_a_hit(
    ledger: Ledger, build: Build
) -> None:
    pipeline, upstream = build(cache=CacheSettings(enabled=True, price_per_hit_usd=Decimal("0.001")))
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=CREDIT)
    first = call_for(chat(temperature=0), user.id, rid="r1")
    await pipeline.run(first)
    await finish(first)  # the answer is stored once delivered
    second = call_for(chat(temperature=0), user.id, rid="r2")
    await pipeline.run(second)
    assert second.cache_status == "hit" and upstream.calls == 1
    hit_cost = 100_000  # 0.001 USD = 0.1 credit
    assert second.response_headers[COST_HEADER] == "0.1"
    [hit] = await transactions(ledger, "cache_hit")
    assert hit.amount == hit_cost and hit.request_id == ledger_request_id(user.id, "r2")
    assert await balance(ledger, user.wallet_id) == (CREDIT - UPSTREAM_COST - hit_cost, 0)


async def test_a_free_cache_hit_is_still_recorded(ledger: Ledger, build: Build) -> None:
    pipeline, _ = build(cache=CacheSettings(enabled=True))
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=CREDIT)
    first = call_for(chat(temperature=0, stream=True), user.id, rid="r1")
    async for _ in await pipeline.run(first):  # type: ignore[union-attr]
        pass
    await finish(first)
    second = call_for(chat(temperature=0, stream=True), user.id, rid="r2")
    await pipeline.run(second)
    assert second.cache_status == "hit" and second.response_headers[COST_HEADER] == "0"
    assert [t.amount for t in await transactions(ledger, "cache_hit")] == [0]


async def test_soft_limit_warns_in_a_header_and_the_audit(ledger: Ledger, build: Build) -> None:
    pipeline, _ = build()
    user = await ledger.directory.create_user(
        "a@x.io", "A", personal_quota=10_000, soft_limit=10_000 - reserve_for(chat()) + 1
    )
    call = call_for(chat(), user.id)
    await pipeline.run(call)
    assert WARNING_HEADER in call.response_headers
    assert len(await ledger.audit.recent(event_type="budget.soft_limit")) == 1
    calm = await ledger.directory.create_user("b@x.io", "B", personal_quota=CREDIT, soft_limit=1)
    quiet = call_for(chat(), calm.id)
    await pipeline.run(quiet)
    assert WARNING_HEADER not in quiet.response_headers


@pytest.mark.parametrize("header", ["x-alfred-priority", "x-project-priority"])
async def test_priority_draws_on_the_team_pool_when_the_personal_wallet_is_short(
    ledger: Ledger, build: Build, header: str
) -> None:
    pipeline, upstream = build()
    team = await ledger.directory.create_team("core", common_pool=CREDIT)
    user = await ledger.directory.create_user("a@x.io", "A", team_id=team.id, personal_quota=100)
    with pytest.raises(InsufficientQuotaError):
        await pipeline.run(call_for(chat(), user.id, rid="plain", team_id=team.id))
    await pipeline.run(call_for(chat(), user.id, rid="urgent", team_id=team.id, headers={header: "critical"}))
    assert upstream.calls == 1
    assert await balance(ledger, team.wallet_id) == (CREDIT - UPSTREAM_COST, 0)
    assert await balance(ledger, user.wallet_id) == (100, 0)


async def test_a_vacationing_teammate_lends_their_share(ledger: Ledger, build: Build) -> None:
    pipeline, _ = build()
    team = await ledger.directory.create_team("core", vacation_share_pct=50)
    away = await ledger.directory.create_user("away@x.io", "Away", team_id=team.id, personal_quota=CREDIT)
    user = await ledger.directory.create_user("a@x.io", "A", team_id=team.id, personal_quota=0)
    with pytest.raises(InsufficientQuotaError):
        await pipeline.run(call_for(chat(), user.id, rid="before"))
    await ledger.governance.set_vacation(away.id, True)
    await pipeline.run(call_for(chat(), user.id, rid="during"))
    assert await balance(ledger, away.wallet_id) == (CREDIT - UPSTREAM_COST, 0)


async def test_a_keys_own_budget_is_held_too(ledger: Ledger, build: Build) -> None:
    pipeline, upstream = build()
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=CREDIT)
    small = await ledger.keys.create(user.id, "small", budget=reserve_for(chat()) - 1)
    with pytest.raises(InsufficientQuotaError):
        await pipeline.run(call_for(chat(), user.id, key_id=small.info.id))
    assert upstream.calls == 0
    enough = await ledger.keys.create(user.id, "enough", budget=reserve_for(chat()))
    await pipeline.run(call_for(chat(), user.id, rid="req-2", key_id=enough.info.id))
    assert (await ledger.keys.get(enough.info.id)).spent == UPSTREAM_COST


async def test_anonymous_calls_pass_without_a_ledger_and_privacy_is_read_for_everyone(
    ledger: Ledger, build: Build
) -> None:
    pipeline, upstream = build()
    call = call_for(chat(), None, headers={"x-privacy-mode": "strict"})
    await pipeline.run(call)
    assert upstream.calls == 1 and call.privacy
    assert await reservations(ledger) == {}
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=CREDIT)
    keyed = call_for(chat(), user.id, rid="r2", headers={"x-alfred-privacy": "STRICT"})
    await pipeline.run(keyed)
    assert keyed.privacy
    plain = call_for(chat(), user.id, rid="r3", headers={"x-alfred-privacy": "off"})
    await pipeline.run(plain)
    assert not plain.privacy


async def test_a_model_without_a_price_is_refused_before_anything_is_held(
    ledger: Ledger, build: Build
) -> None:
    pipeline, upstream = build()
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=CREDIT)
    with pytest.raises(PriceNotConfiguredError) as refused:
        await pipeline.run(call_for(chat("mystery"), user.id))
    assert refused.value.status == 403 and "mystery" in refused.value.message
    assert upstream.calls == 0 and await reservations(ledger) == {}


async def test_demo_models_and_listed_models_are_priced(ledger: Ledger, build: Build) -> None:
    pipeline, _ = build()
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=CREDIT)
    demo = call_for(chat("demo-chat"), user.id, rid="demo")
    await pipeline.run(demo)
    assert demo.response_headers[COST_HEADER] == "0"
    listed = call_for(chat("listed"), user.id, rid="listed")
    await pipeline.run(listed)  # gpt-4o-mini's list price: 0.15 / 0.60 USD per 1M tokens
    assert listed.cost_micros == 10 * 15 + 5 * 60


async def test_embeddings_pay_for_input_only(ledger: Ledger, build: Build) -> None:
    pipeline, _ = build()
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=CREDIT)
    call = call_for(EmbeddingRequest(model="embed", input="some text to embed"), user.id)
    await pipeline.run(call)
    assert call.cost_micros == 12 * 50  # 12 reported tokens at 0.5 USD per 1M


def test_the_worst_case_covers_the_dearest_deployment_a_fallback_may_reach() -> None:
    costing = Costing(CATALOG, LedgerSettings(), QuotaSettings(default_max_output_tokens=100))
    request = chat("cheap", max_tokens=None)
    call = call_for(request, 1)
    assert costing.estimate(call) == cost_micros(DEAR, estimate_prompt_tokens(request), 100)
    call.deployment_id = CATALOG.get("cheap").deployments[0].id
    assert costing.actual(call, UPSTREAM_USAGE) == UPSTREAM_COST  # the one that answered
    three = chat("priced", max_tokens=None, n=3)
    assert costing.estimate(call_for(three, 1)) == cost_micros(PRICE, estimate_prompt_tokens(three), 300)


def test_unknown_model_price_prices_what_nothing_else_does() -> None:
    fallback = ModelPrice(input_per_mtok=Decimal("5"))
    costing = Costing(CATALOG, LedgerSettings(unknown_model_price=fallback), QuotaSettings())
    request = chat("mystery", max_tokens=0)
    assert costing.estimate(call_for(request, 1)) == cost_micros(fallback, estimate_prompt_tokens(request))


def test_ledger_request_ids_are_scoped_and_fit_the_column() -> None:
    assert ledger_request_id(7, "abc") == "u7/abc"
    long = ledger_request_id(7, "x" * 128)
    assert len(long) <= 120 and long != ledger_request_id(8, "x" * 128)


async def test_privacy_mode_keeps_the_exchange_out_of_the_cache(ledger: Ledger, build: Build) -> None:
    pipeline, upstream = build(cache=CacheSettings(enabled=True))
    user = await ledger.directory.create_user("a@x.io", "A", personal_quota=CREDIT)
    strict = {"x-alfred-privacy": "strict"}
    for rid in ("p1", "p2"):
        call = call_for(chat(temperature=0), user.id, rid=rid, headers=strict)
        await pipeline.run(call)
        await finish(call)
        assert call.cache_status == "bypass"
    assert upstream.calls == 2
    control = call_for(chat(temperature=0), user.id, rid="c1")
    await pipeline.run(control)
    await finish(control)
    again = call_for(chat(temperature=0), user.id, rid="c2")
    await pipeline.run(again)
    assert again.cache_status == "hit"  # the same request without privacy mode is cached
