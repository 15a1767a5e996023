from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from alfred.providers.sse import NDJSONSplitter, SSEEvent, SSEParser

STREAM = (
    b": keep-alive comment\n"
    b'event: message_start\ndata: {"a": 1}\n\n'
    b'data:{"no":"space"}\r\n\r\n'
    b"data: line1\ndata: line2\n\n"
    b"data: [DONE]\r\n\r\n"
)
EXPECTED = [
    SSEEvent("message_start", '{"a": 1}'),
    SSEEvent("message", '{"no":"space"}'),
    SSEEvent("message", "line1\nline2"),
    SSEEvent("message", "[DONE]"),
]


def _parse(pieces: list[bytes]) -> list[SSEEvent]:
    parser = SSEParser()
    events: list[SSEEvent] = []
    for piece in pieces:
        events.extend(parser.feed(piece))
    events.extend(parser.flush())
    return events


def test_whole_stream() -> None:
    assert _parse([STREAM]) == EXPECTED


def test_byte_by_byte() -> None:
    assert _parse([STREAM[i : i + 1] for i in range(len(STREAM))]) == EXPECTED


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_any_split_gives_the_same_events(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    pieces = [STREAM[a:b] for a, b in zip([0, *points], [*points, len(STREAM)], strict=True)]
    assert _parse(pieces) == EXPECTED


def test_bare_cr_line_endings_and_split_utf8() -> None:
    data = "data: héllo\r\r".encode()
    cut = data.index(b"\xc3") + 1  # split inside the two-byte é
    assert _parse([data[:cut], data[cut:]]) == [SSEEvent("message", "héllo")]


def test_final_event_without_blank_line_is_kept_on_flush() -> None:
    assert _parse([b"data: tail"]) == [SSEEvent("message", "tail")]


def test_ndjson_splitter() -> None:
    splitter = NDJSONSplitter()
    assert splitter.feed(b'{"a":1}\n{"b"') == [b'{"a":1}']
    assert splitter.feed(b":2}\n\n") == [b'{"b":2}']
    assert splitter.feed(b'{"c":3}') == []
    assert splitter.flush() == [b'{"c":3}']
