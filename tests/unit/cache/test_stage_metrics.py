"""The Cache stage reports to Prometheus: outcomes, tokens saved and USD saved at the group's price."""

from __future__ import annotations

from decimal import Decimal

import pytest

from alfred.cache.exact import ExactCache, LruStore
from alfred.cache.settings import CacheSettings
from alfred.config import Price
from alfred.observability.metrics import GatewayMetrics
from alfred.pipeline import Pipeline
from alfred.pipeline.cache import CacheStage
from alfred.pipeline.metering import MeteredHandler
from alfred.routing.catalog import ModelCatalog, ModelGroup
from tests.unit.cache.support import Upstream, chat, finish, make_call
from tests.unit.observability.test_metrics import value
from tests.unit.routing.deployments import deployment

# 1,000 / 2,000 USD per 1M tokens: the support upstream's 10 + 5 tokens cost 0.01 + 0.01 USD
PRICE = Price(input_per_mtok=Decimal(1000), output_per_mtok=Decimal(2000))


def build() -> tuple[GatewayMetrics, Pipeline, Upstream]:
    models = ModelCatalog([ModelGroup("gpt-test", "chat", (deployment("a", group="gpt-test"),), price=PRICE)])
    metrics = GatewayMetrics(groups=["gpt-test"])
    stage = CacheStage(
        CacheSettings(enabled=True),
        ExactCache(LruStore(100, 1 << 20)),
        cost_of=models.cost_usd,
        metrics=metrics,
    )
    upstream = Upstream()
    return metrics, Pipeline([stage], MeteredHandler(upstream)), upstream


async def test_hits_misses_and_bypasses_are_counted_with_what_hits_saved() -> None:
    metrics, pipeline, upstream = build()
    first = make_call(chat())
    await pipeline.run(first)
    await finish(first)
    for rid in ("r2", "r3"):
        await pipeline.run(make_call(chat(), rid=rid))
    await pipeline.run(make_call(chat(temperature=0.7), rid="warm"))
    assert upstream.calls == 2
    counts = {
        result: value(metrics, "alfred_cache_requests_total", model_group="gpt-test", result=result)
        for result in ("miss", "hit", "bypass")
    }
    assert counts == {"miss": 1, "hit": 2, "bypass": 1}
    assert value(metrics, "alfred_cache_tokens_saved_total", model_group="gpt-test", direction="in") == 20
    assert value(metrics, "alfred_cache_tokens_saved_total", model_group="gpt-test", direction="out") == 10
    assert value(metrics, "alfred_cache_saved_usd_total", model_group="gpt-test") == pytest.approx(0.04)


async def test_served_on_metrics_with_the_header_spelling_of_results() -> None:
    metrics, pipeline, _ = build()
    for rid in ("r1", "r2"):
        call = make_call(chat("What is 2 + 2?"), rid=rid)
        await pipeline.run(call)
        await finish(call)
    body = metrics.render()[0].decode()
    assert 'alfred_cache_requests_total{model_group="gpt-test",result="hit"} 1.0' in body
    assert 'alfred_cache_saved_usd_total{model_group="gpt-test"} 0.02' in body
