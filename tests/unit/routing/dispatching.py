"""A dispatcher over a scripted transport, for routing tests that must see which deployment was called."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

import msgspec

from alfred.pipeline.call import Call, Identity
from alfred.providers.base import UpstreamRequest
from alfred.providers.transport import HttpTransport, Timeouts, UpstreamResponse
from alfred.routing.breaker import CircuitBreaker
from alfred.routing.caps import DeploymentCaps
from alfred.routing.catalog import Deployment, ModelCatalog, ModelGroup
from alfred.routing.dispatch import Dispatcher
from alfred.routing.health import DeploymentHealth
from alfred.routing.router import Router
from alfred.schema import ChatRequest
from alfred.state.base import BreakerPolicy, BreakerStore


class ScriptedTransport(HttpTransport):
    """Answers every chat request with an OpenAI-shaped success (or ``status`` per provider).

    ``sent`` counts requests by provider name: the deployments the factory builds each have their own.
    """

    def __init__(self, usage_tokens: tuple[int, int] = (10, 20)) -> None:
        super().__init__()
        self.sent: Counter[str] = Counter()
        self.status: dict[str, int] = {}
        self._usage = usage_tokens

    async def send(self, request: UpstreamRequest, timeouts: Timeouts, provider: str) -> UpstreamResponse:
        self.sent[provider] += 1
        status = self.status.get(provider, 200)
        if status != 200:
            body = {"error": {"message": "scripted failure", "type": "server_error"}}
            return UpstreamResponse(status, {"content-type": "application/json"}, json.dumps(body).encode())
        prompt, completion = self._usage
        body = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": "model",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }
        return UpstreamResponse(200, {"content-type": "application/json"}, json.dumps(body).encode())


class InOrder:
    """A strategy that keeps config order, so a test knows which deployment is first."""

    name = "in-order"

    def order(self, deployments: Sequence[Deployment]) -> list[Deployment]:
        return list(deployments)


def catalog(*groups: tuple[str, Sequence[Deployment], Sequence[str]]) -> ModelCatalog:
    """Groups as (name, deployments, fallback group names)."""
    return ModelCatalog(
        ModelGroup(name=name, kind="chat", deployments=tuple(ds), fallbacks=tuple(fallbacks))
        for name, ds, fallbacks in groups
    )


def dispatcher(
    models: ModelCatalog,
    transport: HttpTransport,
    breakers: BreakerStore,
    caps: DeploymentCaps | None,
    *,
    retries: int = 3,
    policy: BreakerPolicy | None = None,
    capped: list[str] | None = None,
) -> Dispatcher:
    return Dispatcher(
        Router(models, InOrder()),
        transport,
        CircuitBreaker(breakers, policy or BreakerPolicy()),
        DeploymentHealth(),
        retries=retries,
        backoff_s=0,
        caps=caps,
        on_capped=capped.append if capped is not None else None,
    )


def chat_call(model: str = "chat", max_tokens: int | None = 100, rid: str = "r") -> Call:
    request = msgspec.convert(
        {"model": model, "messages": [{"role": "user", "content": "hello"}], "max_tokens": max_tokens},
        ChatRequest,
    )
    return Call(rid, "chat", request, {}, identity=Identity())


async def finish(call: Call) -> None:
    for hook in call.finish_hooks:  # what api/calls.finish does once the response is over
        await hook(call)
