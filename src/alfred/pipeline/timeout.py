"""The seed's Timeout stage: one deadline over the whole call, retries and fallbacks included.

Per-provider connect / first-byte / idle limits live in the transport; this stage bounds what the
caller waits in total (until the answer, or until the first chunk of a stream). A caller may ask
for less with ``X-Alfred-Timeout: <seconds>``, never for more than the configured maximum.
"""

from __future__ import annotations

from alfred.deadlines import Deadlines
from alfred.errors import InvalidRequestError, UpstreamTimeoutError
from alfred.pipeline.call import Call, Result
from alfred.pipeline.stage import Next

HEADER = "x-alfred-timeout"


class TimeoutStage:
    """Bounds the time to an answer (or to a stream's first chunk) by a per-request deadline."""

    name = "timeout"

    def __init__(
        self,
        default_s: float,
        max_s: float | None = None,
        per_group_s: dict[str, float] | None = None,
        *,
        deadlines: Deadlines | None = None,
    ) -> None:
        self._deadlines = deadlines or Deadlines()
        self._default_s = default_s
        self._max_s = max_s if max_s is not None else default_s
        self._per_group_s = per_group_s or {}

    def deadline_for(self, call: Call) -> float:
        limit = self._per_group_s.get(call.request.model, self._default_s)
        asked = call.headers.get(HEADER)
        if asked is None:
            return limit
        try:
            value = float(asked)
        except ValueError:
            raise InvalidRequestError(f"{HEADER} must be a number of seconds", param=HEADER) from None
        if not value > 0:  # NaN included: "nan" parses, and a NaN deadline was a 500
            raise InvalidRequestError(f"{HEADER} must be positive", param=HEADER)
        return min(value, self._max_s)

    async def __call__(self, call: Call, next: Next) -> Result:
        deadline = self.deadline_for(call)
        try:
            async with self._deadlines.after(deadline):
                return await next(call)
        except TimeoutError:
            raise UpstreamTimeoutError(
                f"no answer within the request deadline of {deadline:g}s", code="request_timeout"
            ) from None
