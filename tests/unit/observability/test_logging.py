"""The request log line: JSON fields, what never goes in it, prompts only when allowed and redacted."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import msgspec
import pytest

from alfred.api.middleware.access_log import CALL_KEY, AccessLogMiddleware, SafetyRedactor, route_of
from alfred.api.middleware.request_id import SCOPE_KEY
from alfred.errors import RateLimitError
from alfred.observability.logging import JsonFormatter, LineWriter, RequestLog, configure_logging
from alfred.observability.settings import LoggingSettings
from alfred.pipeline import Call
from alfred.schema import ChatRequest, Usage

EMAIL = "jane.roe@acme-mail.com"
CARD = "4539 1488 0343 6467"
PROMPT = f"My card is {CARD} and my mail {EMAIL}; key sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78"


@pytest.fixture(autouse=True)
def info_level() -> Iterator[None]:
    """What ``--log-level info`` sets up (request lines follow the stdlib level)."""
    access = logging.getLogger("alfred.access")
    saved = access.level
    access.setLevel(logging.INFO)
    yield
    access.setLevel(saved)


class Sink(io.BytesIO):
    def close(self) -> None:  # keep the buffer readable after the writer is done
        pass


def make_call() -> Call:
    body = {"model": "gpt", "messages": [{"role": "user", "content": PROMPT}]}
    headers = {"authorization": "Bearer sk-alfred-supersecret"}
    call = Call("req-1", "chat", msgspec.convert(body, ChatRequest), headers)
    call.model_group, call.provider, call.upstream_model, call.attempts = "gpt", "openai", "gpt-4o-mini", 1
    call.identity.key_prefix, call.identity.user_id, call.identity.team_id = "sk-alf…cret", "u1", "t1"
    call.usage, call.cost_micros, call.upstream_ns = Usage(12, 30, 42), 1234, 2_000_000
    call.finished_ns = call.started_ns + 3_000_000
    call.outcome = "ok"
    return call


async def serve_one(call: Call | None, settings: LoggingSettings, status: int = 200) -> list[dict]:
    sink = Sink()
    request_log = RequestLog(settings, LineWriter(sink))

    async def app(scope, receive, send):
        if call is not None:
            scope[CALL_KEY] = call
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def send(message):
        pass

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        SCOPE_KEY: "req-1",
        "headers": [],
    }
    await AccessLogMiddleware(app, request_log)(scope, None, send)
    await request_log.aclose()
    return [json.loads(line) for line in sink.getvalue().splitlines()]


async def test_one_line_per_request_with_the_fields_operators_need() -> None:
    [line] = await serve_one(make_call(), LoggingSettings())
    assert line["event"] == "request" and line["level"] == "info" and line["ts"].endswith("Z")
    expected = {
        "request_id": "req-1", "status": 200, "model": "gpt", "provider": "openai",
        "deployment": "openai/gpt-4o-mini", "route": "primary", "key_prefix": "sk-alf…cret", "user": "u1",
        "team": "t1", "prompt_tokens": 12, "completion_tokens": 30, "cost_usd": 0.00001234,
        "upstream_ms": 2.0, "overhead_ms": 1.0, "gateway_ms": 3.0,
    }  # fmt: skip
    assert {k: line[k] for k in expected} == expected
    assert "latency_ms" in line and "prompt" not in line


async def test_no_prompt_text_key_or_pii_by_default() -> None:
    [line] = await serve_one(make_call(), LoggingSettings())
    text = json.dumps(line)
    for secret in (CARD, EMAIL, "supersecret", "sk-proj-", "My card"):
        assert secret not in text


async def test_prompts_when_configured_are_redacted_and_never_in_privacy_mode() -> None:
    settings = LoggingSettings(log_prompts=True)
    [line] = await serve_one(make_call(), settings)
    prompt = line["prompt"]
    assert prompt.startswith("user: My card is ")
    assert CARD not in prompt and EMAIL not in prompt and "sk-proj-Ab12" not in prompt
    assert "[EMAIL]" in prompt
    private = make_call()
    private.privacy = True
    [line] = await serve_one(private, settings)
    assert "prompt" not in line and "My card" not in json.dumps(line)


async def test_the_requested_model_name_is_not_logged_when_it_is_not_a_configured_group() -> None:
    call = make_call()
    call.request.model = EMAIL  # a client can put anything in "model"
    call.model_group = call.provider = call.upstream_model = None
    call.outcome, call.error = "error", RateLimitError("slow down")
    [line] = await serve_one(call, LoggingSettings(), status=429)
    assert EMAIL not in json.dumps(line)
    assert line["error_code"] == "rate_limit_exceeded" and line["status"] == 429 and "model" not in line


async def test_requests_switched_off_or_level_above_info_write_nothing() -> None:
    assert await serve_one(make_call(), LoggingSettings(requests=False)) == []
    logging.getLogger("alfred.access").setLevel(logging.WARNING)  # as --log-level warning does
    assert await serve_one(make_call(), LoggingSettings()) == []


def test_route_of() -> None:
    call = make_call()
    assert route_of(call) == "primary"
    call.attempts = 2
    assert route_of(call) == "retry"
    call.cache_status = "hit"
    assert route_of(call) == "cache"
    call.cache_status = "semantic-hit"  # the cache stage's spelling
    assert route_of(call) == "cache"
    call.notes["route"] = "fallback"
    assert route_of(call) == "fallback"


def test_redactor_replaces_values_with_kinds() -> None:
    out = SafetyRedactor()(f"mail {EMAIL} now")
    assert out == "mail [EMAIL] now"


def test_line_writer_writes_everything_queued_before_close() -> None:
    sink = Sink()
    writer = LineWriter(sink)
    for i in range(1000):
        writer.msg(b'{"n":%d}' % i)
    writer.close()
    lines = sink.getvalue().splitlines()
    assert [json.loads(x)["n"] for x in lines] == list(range(1000))
    LineWriter(Sink()).close()  # never started: nothing to wait for


def test_stdlib_records_are_json_too() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging("info", stream)
    try:
        logging.getLogger("alfred.test").warning("upstream %s slow", "openai", extra={"request_id": "r9"})
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    entry = json.loads(stream.getvalue())
    assert (
        entry["event"] == "upstream openai slow"
        and entry["level"] == "warning"
        and entry["request_id"] == "r9"
    )
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hi", None, None)
    record.alfred = {"model": "gpt", "none": None}
    assert json.loads(JsonFormatter().format(record))["model"] == "gpt"
