"""JSON logs on stderr: one object per line.

The per-request line goes through structlog (``RequestLog``), measured cheaper than a stdlib
``logging`` record with a JSON formatter (``bench/metrics_bench.py`` times both), and is written by
a background thread (``LineWriter``) so the event loop never waits on a slow stderr. Everything else logs through stdlib ``logging`` as one JSON object per line
too (``configure_logging``), with the request's fields under their own keys.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from collections.abc import MutableMapping
from typing import IO, Any

import msgspec
import structlog

from alfred.observability.settings import LoggingSettings

_encoder = msgspec.json.Encoder()


def _iso(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """Formats a stdlib record as one JSON object; extra fields passed as ``extra={'alfred': {...}}``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        fields = getattr(record, "alfred", None)
        if isinstance(fields, dict):
            entry.update({k: v for k, v in fields.items() if v is not None})
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _encoder.encode(entry).decode()


def configure_logging(level: str = "info", stream: IO[str] | None = None) -> None:
    """Route stdlib logging (every module's ``logging.getLogger``) to JSON lines on stderr."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class LineWriter:
    """Writes byte lines to a stream from a daemon thread; ``msg`` only queues (the structlog logger API)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="alfred-log-writer", daemon=True)

    def msg(self, line: bytes) -> None:
        if not self._thread.is_alive() and self._thread.ident is None:
            self._thread.start()  # on the first line: an app built and never served starts no thread
        self._queue.put(line)

    info = warning = error = debug = critical = exception = msg

    def _run(self) -> None:
        while True:
            line = self._queue.get()
            batch: list[bytes] = []
            stop = False
            while True:
                if line is None:
                    stop = True
                    break
                batch.append(line + b"\n")
                try:
                    line = self._queue.get_nowait()
                except queue.Empty:
                    break
            try:
                self._stream.write(b"".join(batch))
                self._stream.flush()
            except (OSError, ValueError):
                pass  # stderr closed or gone: logging must never take the gateway down
            if stop:
                return

    def close(self, timeout: float = 2.0) -> None:
        """Write what is queued, then stop the thread."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)


class _Clock:
    """The ISO timestamp processor; formats the date part once per second (it dominated the line's cost)."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, _logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        event["ts"] = f"{self._prefix}.{int((now - second) * 1000):03d}Z"
        return event


def _render(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> bytes:
    line = {"ts": event.pop("ts"), "level": event.pop("level"), "event": event.pop("event")}
    line.update((k, v) for k, v in event.items() if v is not None)
    return _encoder.encode(line)


class RequestLog:
    """The per-request JSON line (request id, key prefix, user, team, model, status, latency split, …).

    Built once in the composition root and handed to the access-log middleware. Prompt text is added
    only with ``log_prompts`` on, never for a call in privacy mode, and always through ``redact``.
    """

    def __init__(self, settings: LoggingSettings, writer: LineWriter | None = None) -> None:
        self.settings = settings
        self._writer = writer or LineWriter(sys.stderr.buffer)
        # The stdlib level (``--log-level``, ``configure_logging``) switches request lines on and off.
        self._gate = logging.getLogger("alfred.access")
        self._log = structlog.wrap_logger(
            self._writer,
            processors=[structlog.processors.add_log_level, _Clock(), _render],
            wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        ).bind(logger="alfred.access")

    @property
    def enabled(self) -> bool:
        """Whether request lines are written: ``logging.requests`` on and the level at info or below."""
        return self.settings.requests and self._gate.isEnabledFor(logging.INFO)

    def write(self, fields: dict[str, Any]) -> None:
        if self.enabled:
            self._log.info("request", **fields)

    async def aclose(self) -> None:
        """At shutdown: write out what is queued."""
        self._writer.close()
