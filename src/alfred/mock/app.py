"""Builds the mock upstream app from every provider mock, plus the control API under /mock."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from alfred.mock import anthropic as anthropic_mock
from alfred.mock import bedrock as bedrock_mock
from alfred.mock import cohere as cohere_mock
from alfred.mock import gemini as gemini_mock
from alfred.mock import gradio as gradio_mock
from alfred.mock import ollama as ollama_mock
from alfred.mock import openai as openai_mock
from alfred.mock import openai_images as openai_images_mock
from alfred.mock import replicate as replicate_mock
from alfred.mock.state import Fault, MockState


def _control_routes(state: MockState) -> list[BaseRoute]:
    async def set_fault(request: Request) -> Response:
        try:
            state.fault = msgspec.json.decode(await request.body(), type=Fault)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"fault": msgspec.to_builtins(state.fault)})

    async def clear_fault(request: Request) -> Response:
        state.fault = None
        return JSONResponse({"fault": None})

    async def stats(request: Request) -> Response:
        return JSONResponse(state.stats())

    async def reset(request: Request) -> Response:
        state.reset()
        return JSONResponse(state.stats())

    async def last(request: Request) -> Response:
        return JSONResponse(
            {"path": state.last_path, "body": state.last_request, "headers": state.last_headers}
        )

    return [
        Route("/mock/faults", set_fault, methods=["POST"]),
        Route("/mock/faults", clear_fault, methods=["DELETE"]),
        Route("/mock/stats", stats, methods=["GET"]),
        Route("/mock/stats", reset, methods=["DELETE"]),
        Route("/mock/last", last, methods=["GET"]),
    ]


def build_mock_app(state: MockState | None = None) -> Starlette:
    """The mock upstream as an ASGI app; ``app.state.mock`` is its ``MockState``."""
    state = state or MockState()
    routes: list[BaseRoute] = _control_routes(state)
    for module in _provider_modules():
        routes.extend(module.routes(state))
    app = Starlette(routes=routes)
    app.state.mock = state
    return app


def _provider_modules() -> list[Any]:
    return [
        openai_mock,
        anthropic_mock,
        bedrock_mock,
        gemini_mock,
        cohere_mock,
        ollama_mock,
        openai_images_mock,
        replicate_mock,
        gradio_mock,
    ]
