"""Server-Sent Events, as the W3C spec frames them: ``event:``/``data:`` lines, a blank line ends one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ServerEvent:
    """One frame: its ``event`` name (``message`` when absent) and its joined ``data`` lines."""

    event: str
    data: str


class SSEDecoder:
    """Feeds on lines (without their line ending) and returns a frame at each blank line."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> ServerEvent | None:
        if not line:
            if not self._data and not self._event:
                return None
            frame = ServerEvent(self._event or "message", "\n".join(self._data))
            self._event, self._data = "", []
            return frame
        if line.startswith(":"):
            return None  # a comment (keep-alive)
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        return None
