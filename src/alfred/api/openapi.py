"""GET /openapi.json: the data plane's OpenAPI document (hand-written: the data plane is raw ASGI).

The document lives beside this module (``openapi/gateway.yaml``). What depends on the deployment is
filled in once, when the endpoint is built: the caps on messages and ``n`` (``server.max_messages``,
``server.max_n``) and whether an API key is required (only when the auth stage runs), so a client
or a fuzzer reading the document sees the limits this gateway enforces.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import msgspec
import yaml

from alfred.api.http import Receive, Scope, Send, send_bytes
from alfred.config import ServerSettings

DOCUMENT = Path(__file__).with_name("openapi") / "gateway.yaml"
PATH = "/openapi.json"
_KEY_SCHEMES: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"apiKeyAuth": []}]


def load_document(path: Path = DOCUMENT) -> dict[str, Any]:
    """The committed document as a dict, exactly as written."""
    with path.open(encoding="utf-8") as file:
        document = yaml.safe_load(file)
    if not isinstance(document, dict) or "openapi" not in document:
        raise ValueError(f"{path} is not an OpenAPI document")
    return document


def deployment_document(
    document: dict[str, Any], limits: ServerSettings, *, auth_required: bool
) -> dict[str, Any]:
    """A copy of ``document`` with this deployment's limits and authentication filled in."""
    doc = copy.deepcopy(document)
    schemas = doc["components"]["schemas"]
    schemas["ChatCompletionRequest"]["properties"]["messages"]["maxItems"] = limits.max_messages
    schemas["ChatCompletionRequest"]["properties"]["n"]["maximum"] = limits.max_n
    schemas["MessagesRequest"]["properties"]["messages"]["maxItems"] = limits.max_messages
    # An empty requirement ({}) makes a key optional: without the auth stage nobody checks one.
    doc["security"] = [*_KEY_SCHEMES] if auth_required else [*_KEY_SCHEMES, {}]
    return doc


class OpenAPIEndpoint:
    """Serves the document, encoded once at startup."""

    def __init__(self, document: dict[str, Any]) -> None:
        self._body = msgspec.json.encode(document)

    @classmethod
    def for_deployment(cls, limits: ServerSettings, *, auth_required: bool) -> OpenAPIEndpoint:
        return cls(deployment_document(load_document(), limits, auth_required=auth_required))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_bytes(send, 200, self._body)
