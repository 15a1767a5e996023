"""AWS Signature Version 4 request signing, on botocore's own signer and credential chain.

botocore is the optional ``bedrock`` extra, so it is imported only when a request is signed: the
gateway runs without it for every other provider. Credentials come from config when given, else
from botocore's standard chain (environment variables, shared profile, SSO, container and instance
roles), resolved once per signer and refreshed by botocore when they are temporary.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from alfred.errors import UpstreamError


@dataclass(frozen=True, slots=True)
class StaticCredentials:
    """An access key pair (and session token for temporary credentials) given in config."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def __repr__(self) -> str:
        # Never let the secret reach a log line or an error message.
        return f"StaticCredentials(access_key_id={self.access_key_id!r}, secret_access_key=***)"


class SigV4Signer:
    """Signs requests for one AWS service in one region."""

    def __init__(self, service: str, region: str, credentials: StaticCredentials | None = None) -> None:
        self.service = service
        self.region = region
        self._static = credentials
        self._resolved: Any = None  # botocore Credentials, once found
        self._lock = threading.Lock()

    def sign(self, method: str, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
        """The headers to send: those given plus ``x-amz-date``, ``authorization`` and, for temporary
        credentials, ``x-amz-security-token``. ``url`` must be exactly what goes on the wire."""
        auth, awsrequest = _botocore_modules()
        request = awsrequest.AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        auth.SigV4Auth(self._credentials(), self.service, self.region).add_auth(request)
        return {name.lower(): str(value) for name, value in request.headers.items()}

    def _credentials(self) -> Any:
        if self._resolved is None:
            with self._lock:
                if self._resolved is None:
                    self._resolved = self._resolve()
        # Refreshable (role, SSO) credentials renew themselves here when close to expiry.
        return self._resolved.get_frozen_credentials()

    def _resolve(self) -> Any:
        import botocore.credentials  # type: ignore[import-untyped]
        import botocore.session  # type: ignore[import-untyped]

        if self._static is not None:
            return botocore.credentials.Credentials(
                self._static.access_key_id, self._static.secret_access_key, self._static.session_token
            )
        found = botocore.session.Session().get_credentials()
        if found is None:
            raise UpstreamError(
                "no AWS credentials: set access_key_id and secret_access_key in the provider's options, "
                "an api_key (a Bedrock API key), or the standard AWS environment/profile",
                code="upstream_authentication_error",
                retryable=True,
            )
        return found


def _botocore_modules() -> tuple[Any, Any]:
    try:
        import botocore.auth  # type: ignore[import-untyped]
        import botocore.awsrequest  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise UpstreamError(
            "AWS SigV4 signing needs botocore: install the 'bedrock' extra (pip install 'alfred-gateway[bedrock]')",
            code="upstream_authentication_error",
            retryable=True,
        ) from exc
    return botocore.auth, botocore.awsrequest
