from __future__ import annotations

import asyncio

import msgspec
import pytest

from alfred.errors import InvalidRequestError, UpstreamTimeoutError
from alfred.pipeline import Call, Pipeline
from alfred.pipeline.timeout import TimeoutStage
from alfred.schema import ChatRequest, ChatResponse


def make_call(headers: dict[str, str] | None = None) -> Call:
    request = msgspec.convert({"model": "m", "messages": [{"role": "user", "content": "x"}]}, ChatRequest)
    return Call("rid", "chat", request, headers or {})


def handler_taking(seconds: float):
    async def handler(call: Call) -> ChatResponse:
        await asyncio.sleep(seconds)
        return ChatResponse(id="x", model="m", choices=[], created=0)

    return handler


async def test_fast_answer_passes() -> None:
    pipeline = Pipeline([TimeoutStage(1.0)], handler_taking(0))
    assert isinstance(await pipeline.run(make_call()), ChatResponse)


async def test_slow_answer_times_out_with_a_gateway_error() -> None:
    pipeline = Pipeline([TimeoutStage(0.05)], handler_taking(5))
    with pytest.raises(UpstreamTimeoutError) as info:
        await pipeline.run(make_call())
    assert info.value.status == 504 and info.value.code == "request_timeout"


async def test_caller_may_ask_for_less_but_not_more() -> None:
    stage = TimeoutStage(10.0, max_s=20.0)
    assert stage.deadline_for(make_call({"x-alfred-timeout": "2.5"})) == 2.5
    assert stage.deadline_for(make_call({"x-alfred-timeout": "999"})) == 20.0
    with pytest.raises(InvalidRequestError):
        stage.deadline_for(make_call({"x-alfred-timeout": "soon"}))
    with pytest.raises(InvalidRequestError):
        stage.deadline_for(make_call({"x-alfred-timeout": "-1"}))


async def test_per_group_deadline() -> None:
    stage = TimeoutStage(10.0, per_group_s={"m": 3.0})
    assert stage.deadline_for(make_call()) == 3.0


def test_build_pipeline_refuses_unknown_and_repeated_stages() -> None:
    from alfred.pipeline.build import PipelineOrderError, build_pipeline

    handler = handler_taking(0)
    with pytest.raises(PipelineOrderError, match="unknown pipeline stage"):
        build_pipeline(["nope"], {"timeout": TimeoutStage(1)}, handler)
    with pytest.raises(PipelineOrderError, match="twice"):
        build_pipeline(["timeout", "timeout"], {"timeout": TimeoutStage(1)}, handler)
    pipeline = build_pipeline(["auth", "timeout"], {"auth": None, "timeout": TimeoutStage(1)}, handler)
    assert pipeline.stage_names == ["timeout"]
