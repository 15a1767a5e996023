"""What governance adds to one request on the embedded default (SQLite): the auth stage (a cached API
key), the quota stage (cost estimate, reserve through the cascade, settle), against the same pipeline
without them. The handler answers at once, so the difference is governance alone.

    .venv/bin/python bench/governance_bench.py [--calls 2000] [--per-request]

``auth+quota`` is the embedded default (credit leases on, ``alfred.ledger.leases``); ``--per-request``
adds ``auth+quota, per-request holds``: the same quota stage over a ledger with leases off (a hold
committed before the upstream call and a settle after it), on the same database, in the same run.

Each run gets a fresh, migrated SQLite ledger in a temporary directory. Calls run one after another:
per-request latency, not throughput. Prints one JSON document with p50/p99 in microseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import msgspec

from alfred.config import Settings
from alfred.governance.authenticator import Authenticator
from alfred.governance.costing import Costing
from alfred.governance.settings import AuthSettings, QuotaSettings
from alfred.ledger import Ledger, LedgerSettings
from alfred.ledger.settings import LeaseSettings
from alfred.pipeline import Pipeline
from alfred.pipeline.auth import AuthStage
from alfred.pipeline.call import Call, Result
from alfred.pipeline.metering import MeteredHandler
from alfred.pipeline.quota import QuotaStage
from alfred.routing.catalog import ModelCatalog
from alfred.schema import ChatRequest, ChatResponse, Choice, ResponseMessage, Usage
from alfred.secrets import SecretResolver
from alfred.state.db import migrate

KEY_SECRET = "bench-key-hash-secret-16+"  # noqa: S105  # nosec B105 - a throwaway ledger
WARMUP = 100


def _catalog() -> ModelCatalog:
    settings = Settings.model_validate(
        {
            "providers": {
                "up": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": "sk-bench"}
            },
            "models": [
                {
                    "name": "gpt-4o-mini",
                    "deployments": [{"provider": "up", "model": "gpt-4o-mini"}],
                    "price": {"input_per_mtok": "0.15", "output_per_mtok": "0.60"},
                }
            ],
        }
    )
    return ModelCatalog.from_settings(settings, SecretResolver())


def _percentile(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


async def _time(pipeline: Pipeline, calls: int, key: str, request: ChatRequest, tag: str) -> list[float]:
    headers = {"authorization": f"Bearer {key}"}
    samples = []
    for i in range(calls + WARMUP):
        call = Call(f"{tag}-{i}", "chat", request, headers)
        start = time.perf_counter_ns()
        await pipeline.run(call)
        if i >= WARMUP:
            samples.append((time.perf_counter_ns() - start) / 1e3)
    return samples


async def run(calls: int, per_request: bool = False) -> dict[str, dict[str, float]]:
    catalog = _catalog()
    deployment = catalog.get("gpt-4o-mini").deployments[0]

    async def answer(call: Call) -> Result:
        call.deployment_id, call.provider, call.upstream_model = deployment.id, "up", "gpt-4o-mini"
        message = ResponseMessage(content="ok")
        return ChatResponse(
            id="x", model="gpt-4o-mini", created=0, choices=[Choice(0, message)], usage=Usage(20, 5, 25)
        )

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'ledger.db'}"
        await migrate(url)
        ledger = Ledger.build(LedgerSettings(database_url=url), key_secret=KEY_SECRET)
        unleased = Ledger.build(
            LedgerSettings(database_url=url, leases=LeaseSettings(enabled=False)), key_secret=KEY_SECRET
        )
        try:
            user = await ledger.directory.create_user("bench@x.io", "Bench", personal_quota=10**15)
            key = (await ledger.keys.create(user.id, "bench")).key
            auth = AuthStage(Authenticator(AuthSettings(), ledger.keys, directory=ledger.directory))
            quota = QuotaStage(
                ledger.governance,
                ledger.wallets,
                Costing(catalog, LedgerSettings(), QuotaSettings()),
                QuotaSettings(),
            )
            handler = MeteredHandler(answer)
            request = msgspec.convert(
                {
                    "model": "gpt-4o-mini",
                    "messages": [{"role": "user", "content": "hello"}],
                    "max_tokens": 64,
                },
                ChatRequest,
            )
            runs = {
                "bare": Pipeline([], handler),
                "auth": Pipeline([auth], handler),
                "auth+quota": Pipeline([auth, quota], handler),
            }
            if per_request:
                costing = Costing(catalog, LedgerSettings(), QuotaSettings())
                held = QuotaStage(unleased.governance, unleased.wallets, costing, QuotaSettings())
                runs["auth+quota, per-request holds"] = Pipeline([auth, held], handler)
            results: dict[str, dict[str, float]] = {}
            for name, pipeline in runs.items():
                samples = await _time(pipeline, calls, key, request, name)
                results[name] = {
                    "p50_us": round(_percentile(samples, 50), 1),
                    "p99_us": round(_percentile(samples, 99), 1),
                    "mean_us": round(statistics.fmean(samples), 1),
                }
            bare = results["bare"]["p50_us"]
            results["added_p50_us"] = {
                name: round(results[name]["p50_us"] - bare, 1) for name in runs if name != "bare"
            }
            return results
        finally:
            await unleased.close()
            await ledger.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--per-request", action="store_true", help="also measure with credit leases off")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.calls, args.per_request)), indent=2))


if __name__ == "__main__":
    main()
