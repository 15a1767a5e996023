"""GET /openapi.json: the data plane's OpenAPI document (hand-written: the data plane is raw ASGI).

The document lives beside this module (``openapi/gateway.yaml``). What depends on the deployment is
filled in once, at the first request for it (parsing 40 kB of YAML at start-up would delay readiness
for a document few clients ask for): the caps on messages and ``n`` (``server.max_messages``,
``server.max_n``) and whether an API key is required (only when the auth stage runs), so a client
or a fuzzer reading the document sees the limits this gateway enforces.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

try:  # libyaml's parser when PyYAML was built with it: about eight times faster than the pure-Python one
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader  # type: ignore[assignment]
from yaml import load as load_yaml

from alfred.api.http import Receive, Scope, Send, send_bytes
from alfred.config import ServerSettings

DOCUMENT = Path(__file__).with_name("openapi") / "gateway.yaml"
PATH = "/openapi.json"
_KEY_SCHEMES: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"apiKeyAuth": []}]


def load_document(path: Path = DOCUMENT) -> dict[str, Any]:
    """The committed document as a dict, exactly as written."""
    with path.open(encoding="utf-8") as file:
        document = load_yaml(file, Loader=SafeLoader)
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
    """Serves the document, built and encoded once, on the first request."""

    def __init__(self, document: Callable[[], dict[str, Any]]) -> None:
        self._document = document
        self._body: bytes | None = None

    @classmethod
    def for_deployment(cls, limits: ServerSettings, *, auth_required: bool) -> OpenAPIEndpoint:
        return cls(lambda: deployment_document(load_document(), limits, auth_required=auth_required))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._body is None:
            # Two first requests at once may both build it: the same bytes, so no lock is needed.
            self._body = msgspec.json.encode(self._document())
        await send_bytes(send, 200, self._body)
