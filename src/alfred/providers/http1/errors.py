"""What the HTTP/1.1 client raises besides ``TimeoutError`` (a connect that took too long)."""

from __future__ import annotations


class Http1Error(Exception):
    """The exchange failed: the connection broke, or the upstream spoke something that is not HTTP/1.1."""


class Http1ConnectError(Http1Error):
    """No connection could be opened (refused, unreachable, DNS, TLS handshake)."""

    def __init__(self, host: str, port: int, os_error: OSError) -> None:
        super().__init__(f"cannot connect to {host}:{port}: {os_error}")
        self.os_error = os_error
