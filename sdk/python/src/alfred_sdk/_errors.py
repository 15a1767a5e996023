"""Typed errors carrying Alfred's codes, built from its OpenAI-shaped error body.

Tree (chosen by ``code`` first, then by status)::

    AlfredError
    ├── APIConnectionError            no answer (connect error, timeout)
    └── APIStatusError                any error answer; .status, .code, .type, .param, .request_id
        ├── BadRequestError           400
        │   └── ContentPolicyViolationError   code content_policy_violation
        ├── AuthenticationError       401
        ├── InsufficientQuotaError    402 or code insufficient_quota
        ├── PermissionDeniedError     403
        ├── NotFoundError             404
        ├── ConflictError             409 (e.g. a cancelled image job)
        ├── RateLimitError            429; .retry_after and .resets from the headers
        ├── ImageJobFailedError       a job that ended failed or cancelled (raised by generate)
        └── ServerError               5xx
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration(text: str) -> float | None:
    """Seconds in a reset header: Go's format (``"1m30.5s"``, ``"20ms"``) or plain seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


class AlfredError(Exception):
    """Base of every error the SDK raises."""


class APIConnectionError(AlfredError):
    """The gateway could not be reached or did not answer in time."""


class APIStatusError(AlfredError):
    """The gateway answered with an error status and an OpenAI-shaped error body."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        type: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.type = type
        self.param = param
        self.request_id = request_id
        self.headers: dict[str, str] = {k.lower(): v for k, v in (headers or {}).items()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r}, message={self.message!r})"


class BadRequestError(APIStatusError):
    """400: the request is invalid; ``param`` names the field at fault."""


class ContentPolicyViolationError(BadRequestError):
    """400 with code ``content_policy_violation``: the safety policy refused the content."""


class AuthenticationError(APIStatusError):
    """401: no key, or a key that is inactive, expired or revoked."""


class InsufficientQuotaError(APIStatusError):
    """402 (code ``insufficient_quota``): the wallet or budget cannot cover the request."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not use this model or endpoint."""


class NotFoundError(APIStatusError):
    """404: no such model, job, key or route."""


class ConflictError(APIStatusError):
    """409: e.g. the image job was cancelled."""


class ServerError(APIStatusError):
    """5xx: a gateway fault, or every upstream failed."""


class ImageJobFailedError(APIStatusError):
    """An image job ended ``failed`` or ``cancelled``; ``job`` is its last state."""

    job: Any = None


class RateLimitError(APIStatusError):
    """429: a rate limit was reached; when to try again comes from the response headers."""

    @property
    def retry_after(self) -> float | None:
        """Seconds to wait (``retry-after-ms`` when given, else ``retry-after``)."""
        if "retry-after-ms" in self.headers:
            try:
                return float(self.headers["retry-after-ms"]) / 1000
            except ValueError:
                pass
        raw = self.headers.get("retry-after")
        return None if raw is None else parse_duration(raw)

    @property
    def resets(self) -> dict[str, float]:
        """Seconds until each limit resets, by unit (``requests``, ``tokens``), from x-ratelimit-reset-*."""
        out: dict[str, float] = {}
        for name, value in self.headers.items():
            if name.startswith("x-ratelimit-reset-"):
                seconds = parse_duration(value)
                if seconds is not None:
                    out[name[len("x-ratelimit-reset-") :]] = seconds
        return out


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: InsufficientQuotaError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: BadRequestError,
    429: RateLimitError,
}
_BY_CODE: dict[str, type[APIStatusError]] = {
    "content_policy_violation": ContentPolicyViolationError,
    "insufficient_quota": InsufficientQuotaError,
    "rate_limit_exceeded": RateLimitError,
}


def error_class(status: int, code: str | None) -> type[APIStatusError]:
    """The most specific class for a status and an Alfred error code."""
    if code in _BY_CODE:
        return _BY_CODE[code]
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else APIStatusError


def error_from_body(status: int, body: Any, headers: Mapping[str, str]) -> APIStatusError:
    """Build the typed error from a decoded body (tolerating one that is not OpenAI-shaped)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {"message": f"HTTP {status}: {str(body)[:200]}"}
    code = error.get("code")
    cls = error_class(status, code if isinstance(code, str) else None)
    request_id = error.get("request_id") or {k.lower(): v for k, v in headers.items()}.get("x-request-id")
    return cls(
        str(error.get("message") or f"HTTP {status}"),
        status=status,
        code=code if isinstance(code, str) else None,
        type=error.get("type"),
        param=error.get("param"),
        request_id=request_id,
        headers=headers,
    )


def error_from_response(status: int, content: bytes, headers: Mapping[str, str]) -> APIStatusError:
    try:
        body: Any = json.loads(content) if content else None
    except ValueError:
        body = content.decode("utf-8", "replace")
    return error_from_body(status, body, headers)
