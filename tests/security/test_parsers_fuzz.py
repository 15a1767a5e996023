"""Hypothesis fuzzing of every parser that takes bytes or text from outside.

Each target has a contract: the stream decoders never fail on any split of their input and give the
same events however the bytes are cut; request parsing raises only ``AlfredError`` (a 4xx for the
client), never another exception (a 500); the config loader raises only ``ConfigError``; presets
raise only their validation errors. Seeds come from real wire formats so the fuzzer starts close to
the interesting paths.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from alfred.api.anthropic_wire import parse_messages_request
from alfred.api.images_wire import parse_image_request
from alfred.api.parsing import parse_chat_request, parse_embedding_request
from alfred.config import ConfigError, ServerSettings, load_settings
from alfred.errors import AlfredError, InvalidRequestError
from alfred.images.presets import PresetBook
from alfred.pipeline import Call
from alfred.pipeline.timeout import HEADER, TimeoutStage
from alfred.providers.eventstream import EventStreamDecoder, EventStreamError, encode_message
from alfred.providers.sse import NDJSONSplitter, SSEParser
from alfred.schema import ChatRequest

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIMITS = ServerSettings(max_messages=64, max_n=4)
BOOK = PresetBook.builtin()

# --- JSON values that look like requests --------------------------------------------------------

_scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=25,
)


def _objects(fields: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects whose keys are mostly the real field names, with values of any JSON shape."""
    keys = st.sampled_from(fields) | st.text(max_size=10)
    return st.dictionaries(keys, _json, max_size=len(fields))


_MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "system", "tool", "developer", "bogus"]) | _scalars},
    optional={
        "content": st.text(max_size=30)
        | st.lists(_objects(["type", "text", "image_url", "source", "tool_use_id", "content", "id", "input"]))
        | _json,
        "tool_call_id": _scalars,
        "tool_calls": _json,
        "name": _scalars,
    },
)
_CHAT = _objects(
    [
        "model",
        "messages",
        "stream",
        "temperature",
        "top_p",
        "n",
        "stop",
        "max_tokens",
        "max_completion_tokens",
        "tools",
        "tool_choice",
        "stream_options",
        "response_format",
        "logit_bias",
        "seed",
        "user",
    ]
).flatmap(lambda d: st.builds(lambda ms: {**d, "messages": ms}, st.lists(_MESSAGE, max_size=3) | _json))
_EMBEDDING = _objects(["model", "input", "encoding_format", "dimensions", "user"])
_ANTHROPIC = _objects(
    [
        "model",
        "max_tokens",
        "messages",
        "system",
        "stop_sequences",
        "temperature",
        "top_p",
        "top_k",
        "tools",
        "tool_choice",
        "metadata",
        "output_config",
        "stream",
        "thinking",
    ]
).flatmap(lambda d: st.builds(lambda ms: {**d, "messages": ms}, st.lists(_MESSAGE, max_size=3) | _json))
_IMAGE = _objects(
    [
        "prompt",
        "model",
        "n",
        "size",
        "response_format",
        "preset",
        "preset_fields",
        "seed",
        "steps",
        "guidance",
        "wait",
        "webhook_url",
        "stream",
        "weapon_type",
        "element",
    ]
)


def _body(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


def _only_alfred_errors(parse: Any, body: bytes) -> None:
    try:
        parse(body)
    except AlfredError as exc:
        assert 400 <= exc.status < 500, exc
        assert exc.message


@FUZZ
@given(st.one_of(_CHAT.map(_body), st.binary(max_size=200)))
@example(b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 1e400}')
@example(b'{"model": "m", "messages": [{"role": "tool"}]}')
@example(b"\xff\xfe{}")
def test_chat_requests_parse_or_fail_as_4xx(body: bytes) -> None:
    _only_alfred_errors(lambda b: parse_chat_request(b, LIMITS), body)


@FUZZ
@given(st.one_of(_EMBEDDING.map(_body), st.binary(max_size=200)))
@example(b'{"model": "m", "input": [[true], [1]]}')
def test_embedding_requests_parse_or_fail_as_4xx(body: bytes) -> None:
    _only_alfred_errors(parse_embedding_request, body)


@FUZZ
@given(st.one_of(_ANTHROPIC.map(_body), st.binary(max_size=200)))
@example(b'{"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": []}]}')
def test_anthropic_requests_parse_or_fail_as_4xx(body: bytes) -> None:
    _only_alfred_errors(lambda b: parse_messages_request(b, LIMITS), body)


@FUZZ
@given(st.one_of(_IMAGE.map(_body), st.binary(max_size=200)))
def test_image_requests_parse_or_fail_as_4xx(body: bytes) -> None:
    def fields(name: str) -> list[str]:
        preset = BOOK.get(name)
        return sorted(preset.fields) if preset else []

    _only_alfred_errors(lambda b: parse_image_request(b, fields), body)


# --- the timeout header -------------------------------------------------------------------------


@FUZZ
@given(
    st.text(max_size=12) | st.sampled_from(["nan", "NaN", "inf", "-inf", "1e309", "-0", "0.0", "1_0", " 2 "])
)
def test_timeout_header_is_a_positive_finite_deadline_or_a_400(value: str) -> None:
    stage = TimeoutStage(30.0, max_s=60.0)
    request = msgspec.convert({"model": "m", "messages": [{"role": "user", "content": "x"}]}, ChatRequest)
    call = Call("rid", "chat", request, {HEADER: value})
    try:
        deadline = stage.deadline_for(call)
    except InvalidRequestError:
        return
    assert math.isfinite(deadline) and 0 < deadline <= 60.0, (value, deadline)


# --- stream decoders ----------------------------------------------------------------------------

_SSE_SEED = (
    b'data: {"a": 1}\n\n: comment\r\nevent: message_start\r\ndata: x\r\ndata:y\r\r'
    b"data: [DONE]\n\nid: 3\nretry: 10\n\xe2\x82\xac\xff\n\n"
)


def _splits(data: bytes) -> st.SearchStrategy[list[bytes]]:
    return st.lists(st.integers(0, len(data)), max_size=8).map(
        lambda cuts: [data[a:b] for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), len(data)], strict=True)]
    )


def _sse_events(pieces: list[bytes]) -> list[tuple[str, str]]:
    parser = SSEParser()
    events = [e for piece in pieces for e in parser.feed(piece)] + parser.flush()
    return [(e.event, e.data) for e in events]


@FUZZ
@given(
    st.one_of(st.binary(max_size=300), st.just(_SSE_SEED)).flatmap(
        lambda d: st.tuples(st.just(d), _splits(d))
    )
)
def test_sse_parser_gives_the_same_events_however_the_bytes_are_cut(case: tuple[bytes, list[bytes]]) -> None:
    data, pieces = case
    whole = _sse_events([data])
    assert _sse_events(pieces) == whole
    assert _sse_events(list(data[i : i + 1] for i in range(len(data)))) == whole


@FUZZ
@given(st.binary(max_size=300).flatmap(lambda d: st.tuples(st.just(d), _splits(d))))
def test_ndjson_splitter_gives_the_same_lines_however_the_bytes_are_cut(
    case: tuple[bytes, list[bytes]],
) -> None:
    data, pieces = case

    def lines(parts: list[bytes]) -> list[bytes]:
        splitter = NDJSONSplitter()
        return [line for part in parts for line in splitter.feed(part)] + splitter.flush()

    whole = lines([data])
    assert lines(pieces) == whole
    assert all(b"\n" not in line and line.strip() for line in whole)
    assert b"".join(whole) == b"".join(part for part in data.split(b"\n") if part.strip())


_header_values = st.one_of(
    st.booleans(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=20), st.binary(max_size=20)
)
_messages = st.lists(
    st.tuples(
        st.dictionaries(st.text(min_size=1, max_size=10), _header_values, max_size=3), st.binary(max_size=50)
    ),
    min_size=1,
    max_size=3,
)


@FUZZ
@given(
    _messages.flatmap(
        lambda ms: st.tuples(st.just(ms), _splits(b"".join(encode_message(h, p) for h, p in ms)))
    )
)
def test_event_stream_round_trips_through_any_split(
    case: tuple[list[tuple[dict[str, Any], bytes]], list[bytes]],
) -> None:
    messages, pieces = case
    decoder = EventStreamDecoder()
    decoded = [m for piece in pieces for m in decoder.feed(piece)]
    assert decoder.pending == 0
    assert [(m.headers, m.payload) for m in decoded] == [(h, p) for h, p in messages]


@FUZZ
@given(_messages, st.data())
def test_event_stream_detects_any_corrupted_byte(
    messages: list[tuple[dict[str, Any], bytes]], data: st.DataObject
) -> None:
    frame = encode_message(*messages[0])
    at = data.draw(st.integers(0, len(frame) - 1))
    flip = data.draw(st.integers(1, 255))
    corrupted = frame[:at] + bytes([frame[at] ^ flip]) + frame[at + 1 :]
    with pytest.raises(EventStreamError):
        EventStreamDecoder().feed(corrupted)


@FUZZ
@given(st.binary(max_size=400))
def test_event_stream_decoder_raises_only_its_own_error(data: bytes) -> None:
    decoder = EventStreamDecoder()
    try:
        for i in range(0, len(data), 7):
            decoder.feed(data[i : i + 7])
    except EventStreamError:
        pass


# --- the config loader --------------------------------------------------------------------------

_CONFIG_KEYS = [
    "server",
    "master_key",
    "providers",
    "models",
    "retries",
    "pipeline",
    "state",
    "rate_limits",
    "routing",
    "cache",
    "safety",
    "images",
    "storage",
    "observability",
    "vault",
    "key_hash_secret",
]
_configs = st.dictionaries(st.sampled_from(_CONFIG_KEYS) | st.text(max_size=8), _json, max_size=5).map(
    lambda d: yaml.safe_dump(d, allow_unicode=True).encode()
)


@FUZZ
@given(st.one_of(_configs, st.text(max_size=200).map(str.encode), st.binary(max_size=200)))
@example(b"server: " + b"[" * 3000 + b"]" * 3000)
@example(b"a: " + b"{a: " * 3000 + b"1" + b"}" * 3000)
@example(b"server: \xff\xfe")
@example(b"server: {port: ${NOPE}}")
@example(b"server: !!python/object/apply:os.system ['true']")
def test_config_loader_raises_only_config_errors(
    tmp_path_factory: pytest.TempPathFactory, text: bytes
) -> None:
    path: Path = tmp_path_factory.mktemp("config") / "alfred.yaml"
    path.write_bytes(text)
    try:
        load_settings(path, environ={})
    except ConfigError as exc:
        assert str(exc)


# --- presets ------------------------------------------------------------------------------------

_preset_bodies = st.dictionaries(
    st.sampled_from(
        ["prompt", "negative_prompt", "size", "steps", "guidance", "background", "fields", "description"]
    )
    | st.text(max_size=6),
    _json
    | st.text(alphabet="{}!:.[]0ab_ xrs", max_size=20)
    | st.dictionaries(
        st.text(max_size=6),
        st.fixed_dictionaries(
            {"choices": st.lists(st.text(max_size=5), max_size=3) | _json},
            optional={"default": _scalars, "required": _scalars},
        ),
        max_size=2,
    ),
    max_size=6,
)


@FUZZ
@given(st.dictionaries(st.text(max_size=6), _preset_bodies | _json, max_size=2) | _json)
@example({"p": {"prompt": "{a!x}", "fields": {"a": {"choices": ["b"]}}}})
@example({"p": {"prompt": "{a:d}", "fields": {"a": {"choices": ["b"]}}}})
@example({"p": {"prompt": "{a:{b}}", "fields": {"a": {"choices": ["b"]}}}})
def test_preset_definitions_validate_with_only_value_errors(raw: Any) -> None:
    try:
        book = PresetBook.from_mapping(raw)
    except ValueError:
        return
    for name in book.names():
        preset = book.get(name)
        assert preset is not None
        fields = {field: spec.default or next(iter(spec.choices)) for field, spec in preset.fields.items()}
        book.expand(name, fields)  # a definition that validated must expand for valid fields


@FUZZ
@given(
    st.text(max_size=10) | st.just("weapon"),
    st.dictionaries(
        st.text(max_size=12) | st.sampled_from(["weapon_type", "element", "rarity", "style", "Weapon-Type"]),
        _json,
        max_size=4,
    ),
)
def test_preset_expansion_raises_only_invalid_request(name: str, fields: dict[str, Any]) -> None:
    try:
        expanded = BOOK.expand(name, fields)
    except InvalidRequestError as exc:
        assert exc.param is not None, exc  # names the field (even one called "")
        return
    assert expanded.prompt and expanded.width >= 64
