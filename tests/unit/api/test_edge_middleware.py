"""The outer layer (Recover → RequestID → Logger in one): request ids, the 500 for what escaped, the line."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest

from alfred.api.middleware.edge import EdgeMiddleware
from alfred.api.middleware.request_id import SCOPE_KEY, RequestIds
from alfred.observability.logging import LineWriter, RequestLog
from alfred.observability.settings import LoggingSettings


class Sink(io.BytesIO):
    def close(self) -> None:  # keep the buffer readable after the writer is done
        pass


@pytest.fixture(autouse=True)
def info_level() -> Iterator[None]:
    access = logging.getLogger("alfred.access")
    saved = access.level
    access.setLevel(logging.INFO)
    yield
    access.setLevel(saved)


def scope_with(*headers: tuple[bytes, bytes]) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": list(headers)}


async def run(app: Any, scope: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Serve one request through the layer: the messages sent, and the request lines written."""
    sink = Sink()
    request_log = RequestLog(LoggingSettings(), LineWriter(sink))
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    try:
        await EdgeMiddleware(app, request_log)(scope, None, send)
    finally:
        await request_log.aclose()
    return sent, [json.loads(line) for line in sink.getvalue().splitlines()]


async def ok(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 201, "headers": [(b"content-type", b"x")]})
    await send({"type": "http.response.body", "body": b"{}"})


def header(message: dict[str, Any], name: bytes) -> bytes | None:
    return next((v for k, v in message["headers"] if k == name), None)


async def test_a_new_request_id_on_the_response_the_scope_and_the_line() -> None:
    scope = scope_with()
    sent, [line] = await run(ok, scope)
    request_id = scope[SCOPE_KEY]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert header(sent[0], b"x-request-id") == request_id.encode()
    assert header(sent[0], b"content-type") == b"x"  # the app's own headers stay
    assert line["request_id"] == request_id and line["status"] == 201 and "latency_ms" in line


async def test_a_sane_caller_id_is_kept_and_an_insane_one_replaced() -> None:
    sent, _ = await run(ok, scope_with((b"x-request-id", b"trace-42:a.b")))
    assert header(sent[0], b"x-request-id") == b"trace-42:a.b"
    sent, _ = await run(ok, scope_with((b"x-request-id", b"bad id\n")))
    assert re.fullmatch(rb"[0-9a-f]{32}", header(sent[0], b"x-request-id") or b"")


def test_minted_ids_never_repeat_across_batches() -> None:
    ids = RequestIds(batch=4)
    minted = [ids.new() for _ in range(50)]
    assert len(set(minted)) == 50 and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in minted)


async def test_an_escaped_exception_is_an_openai_500_with_the_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise RuntimeError("boom: internal detail")

    with caplog.at_level(logging.ERROR, logger="alfred.recover"):
        sent, [line] = await run(broken, scope_with((b"x-request-id", b"req-9")))
    assert sent[0]["status"] == 500 and header(sent[0], b"x-request-id") == b"req-9"
    error = json.loads(sent[1]["body"])["error"]
    assert "req-9" in error["message"] and "boom" not in json.dumps(error)
    assert line["status"] == 500
    assert any(r.exc_info and "boom" in str(r.exc_info[1]) for r in caplog.records)


async def test_after_the_response_started_the_error_propagates_and_nothing_more_is_sent() -> None:
    async def breaks_midway(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("cut")

    sink = Sink()
    request_log = RequestLog(LoggingSettings(), LineWriter(sink))
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with pytest.raises(RuntimeError, match="cut"):
        await EdgeMiddleware(breaks_midway, request_log)(scope_with(), None, send)
    await request_log.aclose()
    assert [m["status"] for m in sent] == [200]
    assert json.loads(sink.getvalue())["status"] == 200


async def test_cancellation_is_not_answered() -> None:
    async def cancelled(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise asyncio.CancelledError

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with pytest.raises(asyncio.CancelledError):
        await EdgeMiddleware(cancelled)(scope_with(), None, send)
    assert sent == []


async def test_no_line_when_request_logging_is_off() -> None:
    sink = Sink()
    request_log = RequestLog(LoggingSettings(requests=False), LineWriter(sink))
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await EdgeMiddleware(ok, request_log)(scope_with(), None, send)
    await request_log.aclose()
    assert sink.getvalue() == b"" and header(sent[0], b"x-request-id")
