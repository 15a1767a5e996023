"""Schemathesis against a running gateway, driven by the gateway's own OpenAPI document.

The gateway (examples/mock.yaml, the mock upstream behind it) serves GET /openapi.json; every
operation in it is called with generated requests, valid and invalid. Each answer must be documented
(status, content type, headers, body schema), never a 5xx, and every error must be an OpenAI error
object carrying the request's id. Invalid requests must be refused with a 4xx (so every constraint
the document states is enforced). Valid ones may still be refused: the document cannot state every
cross-field rule (a ``tool`` message needs ``tool_call_id``, Anthropic tool names must be unique), so
schemathesis's positive-data-acceptance check is left out. The admin API's document (FastAPI's, at
/admin/openapi.json) is not fuzzed here yet: it does not exist until the admin API lands.
"""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from alfred.api.openapi import load_document
from tests.conftest import MASTER_KEY

MAX_EXAMPLES = 40  # per operation and run: about 30 s in all on a 2-core machine


def _offer(schema: dict[str, Any], names: list[str]) -> None:
    """Let a ``model`` property be drawn from the deployment's real names as well as anything else."""
    if names:
        schema["properties"]["model"] = {"anyOf": [{"enum": names}, schema["properties"]["model"]]}


def specialised(document: dict[str, Any], models: list[dict[str, Any]]) -> dict[str, Any]:
    """The served document with the deployment's model names offered to the generator.

    Random names only ever meet ``404 model_not_found``; real ones reach routing, the adapters and
    the mock upstream. The document itself is not loosened or tightened: the names are a subset of
    the strings it already allows.
    """
    doc = copy.deepcopy(document)
    chat = [m["id"] for m in models if m["alfred"]["kind"] == "chat"]
    embeddings = [m["id"] for m in models if m["alfred"]["kind"] == "embeddings"]
    images = [m["id"] for m in models if m["alfred"]["kind"] == "image"]
    schemas = doc["components"]["schemas"]
    _offer(schemas["ChatCompletionRequest"], chat)
    _offer(schemas["MessagesRequest"], chat)
    _offer(schemas["EmbeddingRequest"], embeddings)
    _offer(schemas["ImageRequest"], images)
    return doc


@pytest.fixture(scope="session")
def data_plane_schema(gateway_url: str) -> Any:
    document = httpx.get(f"{gateway_url}/openapi.json", timeout=10).json()
    models = httpx.get(f"{gateway_url}/v1/models", timeout=10).json()["data"]
    schema = schemathesis.openapi.from_dict(specialised(document, models))
    schema.config.update(base_url=gateway_url, request_timeout=30)
    # A generated invalid body can be larger than the gateway's body limit: 413 (documented) is a
    # refusal of invalid data too. A new list: the default one is shared by every config.
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    return schema


def _operations() -> list[str]:
    # Collected from the committed document (the live one is only there once the gateway runs).
    paths = load_document()["paths"]
    return [
        f"{method.upper()} {path}" for path, item in paths.items() for method in item if method in _METHODS
    ]


_METHODS = {"get", "post", "put", "patch", "delete"}


def assert_openai_error(path: str, response: Any) -> None:
    """Every error: JSON, an OpenAI error object with a message, a type, param and code, and the request id."""
    if response.status_code < 400:
        return
    assert _header(response, "content-type").startswith("application/json"), response.headers
    body = response.json()
    if path == "/v1/messages":
        assert body["type"] == "error", body
    error = body["error"]
    assert isinstance(error["message"], str) and error["message"], body
    assert isinstance(error["type"], str) and error["type"], body
    assert "param" in error and "code" in error, body
    assert error["request_id"] == _header(response, "x-request-id"), (body, response.headers)


def _header(response: Any, name: str) -> str:
    values = response.headers.get(name) or [""]  # schemathesis keeps every value of a header
    return str(values[0])


@pytest.mark.parametrize("operation", _operations())
def test_every_answer_is_documented_and_no_5xx(data_plane_schema: Any, operation: str) -> None:
    method, path = operation.split(" ", 1)
    api_operation = data_plane_schema[path][method]
    cases = st.one_of(
        api_operation.as_strategy(GenerationMode.POSITIVE), api_operation.as_strategy(GenerationMode.NEGATIVE)
    )
    auth = {"authorization": f"Bearer {MASTER_KEY}"}

    @settings(
        max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=cases)
    def call(case: Any) -> None:
        response = case.call_and_validate(headers=auth, excluded_checks=[positive_data_acceptance])
        assert_openai_error(path, response)

    call()
