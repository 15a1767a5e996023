"""Every admin answer that is not a success is an OpenAI-format error, FastAPI's own ones included.

Validation errors keep FastAPI's status (422, as the pinned document says) but take the OpenAI shape,
with ``param`` naming the first field at fault; unknown paths answer the gateway's own 404. The
document is rewritten to match: each operation lists its error statuses with the OpenAI error schema
(inline, so the pinned component schemas stay exactly as the SDKs were generated from them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException

from alfred.api.middleware.request_id import SCOPE_KEY
from alfred.errors import AlfredError, InvalidRequestError, NotFoundError, UnprocessableError

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                "code": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                "request_id": {"type": "string"},
            },
        }
    },
}
_STATUSES = {
    "400": "Invalid request (OpenAI error format)",
    "401": "Missing, unknown, revoked or expired key",
    "403": "This key may not do this",
    "404": "No such object, or not one this key may see",
    "422": "Validation error (OpenAI error format; ``param`` names the field)",
}
_MONEY = {"402": "Not enough credits"}


def render(request: Request, error: AlfredError) -> JSONResponse:
    body = error.to_dict()
    request_id = request.scope.get(SCOPE_KEY)
    if isinstance(request_id, str):
        body["error"]["request_id"] = request_id  # type: ignore[index]
    return JSONResponse(body, status_code=error.status, headers=error.headers or None)


def _param(loc: Sequence[int | str]) -> str | None:
    # ("body", "amount") → "amount"; ("body", "allowed_models", 0) → "allowed_models.0"; ("body",) → None
    parts = [str(p) for p in loc[1:]] if loc and loc[0] in ("body", "query", "path", "header") else []
    return ".".join(parts) or None


def validation_error(exc: RequestValidationError) -> UnprocessableError:
    errors = list(exc.errors())
    if not errors:
        return UnprocessableError("the request is not valid")
    first = errors[0]
    param = _param(first.get("loc", ()))
    messages = []
    for err in errors[:5]:
        where = _param(err.get("loc", ())) or "body"
        messages.append(f"{where}: {err.get('msg', 'invalid')}")
    return UnprocessableError("; ".join(messages), param=param)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into an OpenAI-format error."""

    async def on_alfred(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AlfredError)
        return render(request, exc)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return render(request, validation_error(exc))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        error: AlfredError
        if exc.status_code == 404:
            error = NotFoundError(
                f"no route for {request.method} {request.url.path}; the API lives under /v1"
            )
        elif exc.status_code == 405:
            error = AlfredError(
                f"method {request.method} is not allowed on {request.url.path}",
                code="method_not_allowed",
                status=405,
                headers=dict(exc.headers or {}),
            )
            error.error_type = "invalid_request_error"
        else:
            error = AlfredError(str(exc.detail), code="http_error", status=exc.status_code)
            error.error_type = "invalid_request_error" if exc.status_code < 500 else "api_error"
        return render(request, error)

    async def on_data(request: Request, exc: Exception) -> JSONResponse:
        # The database refused a value the validation let through (an out-of-range number, say).
        return render(request, InvalidRequestError("a value in this request is out of range"))

    app.add_exception_handler(AlfredError, on_alfred)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(DataError, on_data)


def document_errors(document: dict[str, Any]) -> None:
    """List each operation's error answers, with the OpenAI error schema, in the OpenAPI document."""
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            statuses = dict(_STATUSES)
            if method in ("post", "patch"):
                statuses.update(_MONEY)
            responses = operation.setdefault("responses", {})
            for status, description in statuses.items():
                responses[status] = {
                    "description": description,
                    "content": {"application/json": {"schema": ERROR_SCHEMA}},
                }
