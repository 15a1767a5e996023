"""What every provider mock does first: read and record the request, then apply the fault."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request

from alfred.mock.state import Decision, MockState, hang_forever


async def intake(state: MockState, request: Request, *, parse_json: bool = True) -> tuple[Any, Decision]:
    """Returns the parsed body and the fault decision; sleeps or hangs here when the fault says so."""
    raw = await request.body()
    body: Any = raw
    if parse_json and raw:
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"unparseable": raw[:200].decode("utf-8", "replace")}
    headers = {k.lower(): v for k, v in request.headers.items()}
    state.record(request.url.path, body, headers)
    decision = state.decide(request.url.path)
    if decision.latency_ms:
        await asyncio.sleep(decision.latency_ms / 1000)
    if decision.hang:
        await hang_forever()
    return body, decision


def retry_headers(decision: Decision) -> dict[str, str]:
    return {"retry-after": str(decision.retry_after)} if decision.retry_after else {}
