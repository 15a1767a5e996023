"""The auth stage: fills ``call.identity`` and holds a key to the models it may use.

Who the caller is comes from ``alfred.governance.authenticator`` (master key, API key, JWT, or anonymous
when config allows it); a refusal is a 401 before anything else is spent on the request.
"""

from __future__ import annotations

from alfred.errors import PermissionDeniedError
from alfred.governance.authenticator import Authenticator
from alfred.pipeline.call import Call, Result
from alfred.pipeline.stage import Next


class AuthStage:
    """Authenticates the call's headers; a key restricted to some models gets 403 for any other."""

    name = "auth"

    def __init__(self, authenticator: Authenticator) -> None:
        self._authenticator = authenticator

    async def __call__(self, call: Call, next: Next) -> Result:
        identity = await self._authenticator.authenticate(call.headers)
        call.identity = identity
        allowed = identity.allowed_models
        model = call.request.model
        if allowed is not None and model not in allowed:
            raise PermissionDeniedError(
                f"this API key may not use model {model!r}; it may use: {', '.join(sorted(allowed)) or 'none'}",
                param="model",
            )
        return await next(call)
