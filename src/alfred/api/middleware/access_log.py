"""The seed's Logger: one structured JSON line per request, written when the response ends.

Endpoints leave the Call in the scope (``finish`` in ``api/calls.py``); this middleware adds what
only the HTTP layer knows (method, path, status, whole latency) and writes the line through the
app's ``RequestLog``. The line carries ids, routing, the latency split, tokens and cost, never
bodies, headers or keys (only the key's prefix); prompt text only when ``logging.log_prompts`` is on
and the call is not in privacy mode, and then with PII and secrets replaced by their kind.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from alfred.api.http import Receive, Scope, Send
from alfred.api.middleware.request_id import SCOPE_KEY
from alfred.errors import AlfredError
from alfred.observability.logging import RequestLog
from alfred.pipeline.call import Call
from alfred.pipeline.metrics import MICROS_PER_USD, latency_split
from alfred.schema import ChatRequest

log = logging.getLogger("alfred.access")

SUMMARY_KEY = "alfred.summary"  # a dict of extra per-request facts a handler wants on the line
CALL_KEY = "alfred.call"  # the finished Call, set by api.calls.finish

Redactor = Callable[[str], str]


def _ms(ns: int | None) -> float | None:
    return None if ns is None else round(ns / 1e6, 3)


def route_of(call: Call) -> str | None:
    """How the request was served: cache, primary, or retry (a later deployment of its plan); images note their own."""
    noted = call.notes.get("route")
    if isinstance(noted, str):
        return noted
    if call.cache_status in ("hit", "semantic-hit"):
        return "cache"
    if call.provider is None:
        return None
    return "retry" if call.attempts > 1 else "primary"


def call_fields(call: Call) -> dict[str, Any]:
    """The Call's part of the request line. The model is the configured group only: the name a
    client asked for is its own input and may carry anything."""
    total, overhead, ttft = latency_split(call, call.finished_ns or time.perf_counter_ns())
    usage = call.usage
    error = call.error
    return {
        "endpoint": call.endpoint,
        "model": call.model_group,
        "provider": call.provider,
        "deployment": f"{call.provider}/{call.upstream_model}" if call.provider else None,
        "route": route_of(call),
        "attempts": call.attempts or None,
        "outcome": call.outcome,
        "error_code": error.code if isinstance(error, AlfredError) else None,
        "cache": call.cache_status,
        "key_prefix": call.identity.key_prefix,
        "user": call.identity.user_id,
        "team": call.identity.team_id,
        "prompt_tokens": usage.prompt_tokens if usage else None,
        "completion_tokens": usage.completion_tokens if usage else None,
        "cost_usd": round(call.cost_micros / MICROS_PER_USD, 8) if call.cost_micros is not None else None,
        "gateway_ms": _ms(total),
        "upstream_ms": _ms(call.upstream_ns) if call.upstream_ns else None,
        "overhead_ms": _ms(overhead),
        "ttft_ms": _ms(ttft),
    }


def prompt_text(call: Call) -> str:
    request = call.request
    if isinstance(request, ChatRequest):
        return "\n".join(f"{m.role}: {m.text()}" for m in request.messages)
    return "\n".join(request.texts())


class SafetyRedactor:
    """Replaces the PII and secrets the safety detectors find with ``[KIND]`` (for logged prompts)."""

    def __init__(self) -> None:
        from alfred.safety import PiiRecognizer, SecretRecognizer

        self._pii = PiiRecognizer()
        self._secrets = SecretRecognizer()

    def __call__(self, text: str) -> str:
        from alfred.safety.findings import drop_overlaps
        from alfred.safety.text import TextView

        view = TextView(text)
        spans = sorted(drop_overlaps(self._pii.find(view) + self._secrets.find(view)), key=lambda s: s.start)
        parts: list[str] = []
        last = 0
        for span in spans:
            if span.start < last:
                continue
            parts.append(text[last : span.start])
            parts.append(f"[{span.kind}]")
            last = span.end
        parts.append(text[last:])
        return "".join(parts)


class AccessLog:
    """Builds the request's line from the scope and writes it through ``request_log`` (stdlib
    logging when none is given)."""

    def __init__(self, request_log: RequestLog | None = None, redact: Redactor | None = None) -> None:
        self._request_log = request_log
        self._redact = redact

    def enabled(self) -> bool:
        if self._request_log is not None:
            return self._request_log.enabled
        return log.isEnabledFor(logging.INFO)

    def write(self, scope: Scope, status: int, seconds: float) -> None:
        fields: dict[str, Any] = {
            "request_id": scope.get(SCOPE_KEY),
            "method": scope.get("method"),
            "path": scope.get("path"),
            "status": status,
            "latency_ms": round(seconds * 1000, 3),
        }
        call = scope.get(CALL_KEY)
        if isinstance(call, Call):
            fields.update(call_fields(call))
            prompt = self._prompt(call)
            if prompt is not None:
                fields["prompt"] = prompt
        summary = scope.get(SUMMARY_KEY)
        if isinstance(summary, dict):
            fields.update(summary)
        if self._request_log is not None:
            self._request_log.write(fields)
        else:
            log.info("request", extra={"alfred": fields})

    def _prompt(self, call: Call) -> str | None:
        settings = self._request_log.settings if self._request_log is not None else None
        if settings is None or not settings.log_prompts or call.privacy:
            return None
        redact = self._redact or SafetyRedactor()
        if self._redact is None:
            self._redact = redact
        return redact(prompt_text(call))[: settings.prompt_max_chars]


class AccessLogMiddleware:
    """Writes one line per HTTP request (see ``AccessLog``)."""

    def __init__(
        self, app: Any, request_log: RequestLog | None = None, redact: Redactor | None = None
    ) -> None:
        self.app = app
        self._log = AccessLog(request_log, redact)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._log.enabled():
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def recording_send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        except BaseException:
            status = status or 500
            raise
        finally:
            self._log.write(scope, status, time.perf_counter() - started)
