"""The one error family. Every failure a client can see is an ``AlfredError``.

Tree (status → class → OpenAI ``type`` / default ``code``)::

    AlfredError                      500 api_error / internal_error
    ├── InvalidRequestError          400 invalid_request_error / invalid_request
    │   ├── ContentPolicyError       400 invalid_request_error / content_policy_violation
    │   └── ContextLengthError       400 invalid_request_error / context_length_exceeded
    ├── AuthenticationError          401 authentication_error / invalid_api_key
    ├── InsufficientQuotaError       402 insufficient_quota / insufficient_quota
    ├── PermissionDeniedError        403 permission_error / permission_denied
    ├── NotFoundError                404 invalid_request_error / not_found
    │   └── ModelNotFoundError       404 invalid_request_error / model_not_found
    ├── PayloadTooLargeError         413 invalid_request_error / request_too_large
    ├── UnprocessableError           422 invalid_request_error / unprocessable_entity
    ├── RateLimitError               429 rate_limit_error / rate_limit_exceeded
    └── UpstreamError                502 api_error / upstream_error   (status may be 5xx/4xx from upstream)
        ├── UpstreamTimeoutError     504 api_error / upstream_timeout
        └── ServiceUnavailableError  503 api_error / service_unavailable

The module lives at the package root (not in ``api/``) because stages and provider adapters raise
these errors and nothing may import ``api``; ``api/errors.py`` only renders them.
"""

from __future__ import annotations


class AlfredError(Exception):
    """Base of every client-visible error: carries an HTTP status and an OpenAI error code."""

    status: int = 500
    error_type: str = "api_error"
    code: str = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.param = param
        self.headers: dict[str, str] = headers or {}
        self._retryable = retryable

    @property
    def retryable(self) -> bool:
        """Whether another deployment may be tried (connect errors, timeouts, 429, 5xx)."""
        if self._retryable is not None:
            return self._retryable
        return self.status == 429 or self.status >= 500

    def to_dict(self) -> dict[str, object]:
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r}, message={self.message!r})"


class InvalidRequestError(AlfredError):
    status = 400
    error_type = "invalid_request_error"
    code = "invalid_request"


class ContentPolicyError(InvalidRequestError):
    code = "content_policy_violation"


class ContextLengthError(InvalidRequestError):
    code = "context_length_exceeded"


class AuthenticationError(AlfredError):
    status = 401
    error_type = "authentication_error"
    code = "invalid_api_key"


class InsufficientQuotaError(AlfredError):
    status = 402
    error_type = "insufficient_quota"
    code = "insufficient_quota"


class PermissionDeniedError(AlfredError):
    status = 403
    error_type = "permission_error"
    code = "permission_denied"


class NotFoundError(AlfredError):
    status = 404
    error_type = "invalid_request_error"
    code = "not_found"


class ModelNotFoundError(NotFoundError):
    code = "model_not_found"


class PayloadTooLargeError(AlfredError):
    status = 413
    error_type = "invalid_request_error"
    code = "request_too_large"


class UnprocessableError(AlfredError):
    status = 422
    error_type = "invalid_request_error"
    code = "unprocessable_entity"


class RateLimitError(AlfredError):
    status = 429
    error_type = "rate_limit_error"
    code = "rate_limit_exceeded"


class UpstreamError(AlfredError):
    status = 502
    error_type = "api_error"
    code = "upstream_error"


class UpstreamTimeoutError(UpstreamError):
    status = 504
    code = "upstream_timeout"


class ServiceUnavailableError(UpstreamError):
    status = 503
    code = "service_unavailable"


def error_for_status(status: int, message: str, **kwargs: object) -> AlfredError:
    """The error class a provider's HTTP status maps to, keeping the provider's message."""
    cls: type[AlfredError]
    if status == 400:
        cls = InvalidRequestError
    elif status == 401:
        cls = AuthenticationError
    elif status == 402:
        cls = InsufficientQuotaError
    elif status == 403:
        cls = PermissionDeniedError
    elif status == 404:
        cls = NotFoundError
    elif status == 413:
        cls = PayloadTooLargeError
    elif status == 422:
        cls = UnprocessableError
    elif status == 429:
        cls = RateLimitError
    elif status == 504:
        cls = UpstreamTimeoutError
    elif status == 503:
        cls = ServiceUnavailableError
    else:
        cls = UpstreamError
    err = cls(message, **kwargs)  # type: ignore[arg-type]
    if cls is UpstreamError:
        err.status = status if status >= 500 else 502
    return err
