"""The 401 every credential check answers with, and the secret-resolving callable the checks take.

Kept apart from ``jwt`` so the authenticator needs PyJWT (and cryptography) only when JWT is enabled.
"""

from __future__ import annotations

from collections.abc import Callable

from alfred.errors import AuthenticationError

Resolve = Callable[[str | None], str | None]


def refused(message: str) -> AuthenticationError:
    return AuthenticationError(message, headers={"www-authenticate": 'Bearer realm="alfred"'})
