"""The data plane's OpenAPI document: a valid OpenAPI 3.1 document, errors in the OpenAI shape on
every operation, and the deployment's own limits and authentication filled in when served."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from openapi_spec_validator import validate

from alfred.api.openapi import OpenAPIEndpoint, deployment_document, load_document
from alfred.config import ServerSettings


def test_the_committed_document_is_valid_openapi() -> None:
    validate(load_document())  # raises on any structural error


def test_every_error_response_is_an_openai_error() -> None:
    document = load_document()
    responses = document["components"]["responses"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            for status, response in operation["responses"].items():
                if status.startswith("2") or path == "/health/ready":
                    continue
                name = response["$ref"].rsplit("/", 1)[1]
                schema = responses[name]["content"]["application/json"]["schema"]["$ref"]
                expected = "MessagesError" if path == "/v1/messages" else "Error"
                assert schema == f"#/components/schemas/{expected}", (method, path, status)


def test_served_document_states_this_deployments_limits_and_auth() -> None:
    limits = ServerSettings(max_messages=12, max_n=3)
    open_gateway = deployment_document(load_document(), limits, auth_required=False)
    schemas = open_gateway["components"]["schemas"]
    assert schemas["ChatCompletionRequest"]["properties"]["messages"]["maxItems"] == 12
    assert schemas["ChatCompletionRequest"]["properties"]["n"]["maximum"] == 3
    assert schemas["MessagesRequest"]["properties"]["messages"]["maxItems"] == 12
    assert {} in open_gateway["security"]
    closed = deployment_document(load_document(), limits, auth_required=True)
    assert {} not in closed["security"] and {"bearerAuth": []} in closed["security"]
    assert (
        load_document()["components"]["schemas"]["ChatCompletionRequest"]["properties"]["n"]["maximum"] == 16
    )


def test_the_endpoint_serves_json() -> None:
    endpoint = OpenAPIEndpoint.for_deployment(ServerSettings(), auth_required=False)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(endpoint({"type": "http", "path": "/openapi.json"}, None, send))
    assert sent[0]["status"] == 200 and (b"content-type", b"application/json") in sent[0]["headers"]
    assert msgspec.json.decode(sent[1]["body"])["openapi"] == "3.1.0"
