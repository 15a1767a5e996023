"""SSE framing: comments, CRLF-stripped lines, multi-line data, a default event name."""

from __future__ import annotations

from alfred_sdk._sse import ServerEvent, SSEDecoder


def frames(lines: list[str]) -> list[ServerEvent]:
    decoder = SSEDecoder()
    return [frame for line in lines if (frame := decoder.feed(line)) is not None]


def test_frames_end_at_blank_lines() -> None:
    lines = [
        ": keep-alive",
        "event: queued",
        'data: {"a":1}',
        "",
        "data: one",
        "data:two",
        "",
        "",
        "event: x",
        "",
    ]
    assert frames(lines) == [
        ServerEvent("queued", '{"a":1}'),
        ServerEvent("message", "one\ntwo"),
        ServerEvent("x", ""),
    ]
