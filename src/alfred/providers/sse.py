"""An incremental Server-Sent Events parser that tolerates every framing providers use.

Handles ``\\n``, ``\\r\\n`` and ``\\r`` line ends (Gemini ends events with ``\\r\\n\\r\\n``), ``data:``
with or without the space (TGI before 2.1 omits it), comment lines, ``event:`` names and multi-line
data. Bytes may arrive split anywhere, even inside a UTF-8 sequence.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class SSEEvent:
    event: str
    data: str


class SSEParser:
    """Feed bytes, get complete events."""

    __slots__ = ("_buffer", "_data", "_event")

    def __init__(self) -> None:
        self._buffer = b""
        self._event = ""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        buffer = self._buffer + chunk if self._buffer else chunk
        events: list[SSEEvent] = []
        start = 0
        length = len(buffer)
        while start < length:
            nl = buffer.find(b"\n", start)
            cr = buffer.find(b"\r", start)
            if nl == -1 and cr == -1:
                break
            if cr != -1 and (nl == -1 or cr < nl):
                if cr + 1 >= length:
                    break  # a lone \r at the end may be the first half of \r\n
                end = cr
                nxt = cr + 2 if buffer[cr + 1 : cr + 2] == b"\n" else cr + 1
            else:
                end = nl
                nxt = nl + 1
            self._line(buffer[start:end], events)
            start = nxt
        self._buffer = buffer[start:]
        return events

    def flush(self) -> list[SSEEvent]:
        """End of input: a final event without its blank line still counts."""
        events: list[SSEEvent] = []
        if self._buffer:
            self._line(self._buffer, events)
            self._buffer = b""
        self._line(b"", events)
        return events

    def _line(self, raw: bytes, events: list[SSEEvent]) -> None:
        if not raw:
            if self._data or self._event:
                events.append(SSEEvent(self._event or "message", "\n".join(self._data)))
            self._event = ""
            self._data = []
            return
        line = raw.decode("utf-8", errors="replace")
        if line.startswith(":"):
            return
        name, sep, value = line.partition(":")
        if not sep:
            value = ""
        elif value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value


class NDJSONSplitter:
    """Feed bytes, get complete newline-delimited lines (Ollama's native stream)."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        return [line for line in lines if line.strip()]

    def flush(self) -> list[bytes]:
        rest, self._buffer = self._buffer, b""
        return [rest] if rest.strip() else []
