"""AWS event-stream binary framing (``application/vnd.amazon.eventstream``): decoder and encoder.

One message on the wire::

    [total length u32][headers length u32][prelude CRC32 u32]
    [headers: (name length u8, name, value type u8, value)…][payload][message CRC32 u32]

Integers are big-endian; the prelude CRC covers the first 8 bytes and the message CRC everything
before it. Bedrock's ConverseStream speaks this format; frames may arrive split anywhere, so the
decoder buffers until a whole message is in and checks both CRCs before trusting a byte of it.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

HeaderValue = bool | int | bytes | str

_PRELUDE = struct.Struct(">III")
_PRELUDE_LEN = 12
_MIN_MESSAGE_LEN = _PRELUDE_LEN + 4  # an empty message: prelude and message CRC only
_MAX_HEADERS_LEN = 128 * 1024
_MAX_PAYLOAD_LEN = 24 * 1024 * 1024  # botocore's limit; AWS documents 16 MiB per message

# Header value types: 0/1 true/false, 2-5 signed ints of 1/2/4/8 bytes, 6 bytes and 7 string (each
# with a u16 length), 8 timestamp (i64 ms since the epoch), 9 UUID (16 bytes).
_INT_TYPES = {2: struct.Struct(">b"), 3: struct.Struct(">h"), 4: struct.Struct(">i"), 5: struct.Struct(">q")}
_TIMESTAMP = 8
_UUID = 9
_U16 = struct.Struct(">H")


class EventStreamError(ValueError):
    """A frame that is not valid event-stream: bad CRC, impossible lengths, unknown header type."""


@dataclass(frozen=True, slots=True)
class EventMessage:
    """One decoded message: its headers (``:event-type``, ``:message-type``, …) and raw payload."""

    headers: dict[str, HeaderValue]
    payload: bytes

    def header(self, name: str) -> str | None:
        """A string header's value, or None when absent or not a string."""
        value = self.headers.get(name)
        return value if isinstance(value, str) else None


class EventStreamDecoder:
    """Feed bytes in any split, get the complete, CRC-checked messages they finish."""

    __slots__ = ("_buffer", "_prelude_checked")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._prelude_checked = False

    @property
    def pending(self) -> int:
        """Bytes of a message begun but not yet complete (non-zero at EOF means a cut stream)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[EventMessage]:
        self._buffer += data
        messages: list[EventMessage] = []
        while len(self._buffer) >= _PRELUDE_LEN:
            total, headers_len, prelude_crc = _PRELUDE.unpack_from(self._buffer)
            if not self._prelude_checked:
                # Checked before waiting for the rest: a corrupt length must not make us wait forever.
                _check_prelude(self._buffer, total, headers_len, prelude_crc)
                self._prelude_checked = True
            if len(self._buffer) < total:
                break
            frame = bytes(self._buffer[:total])
            del self._buffer[:total]
            self._prelude_checked = False
            messages.append(_decode_frame(frame, headers_len))
        return messages


def _check_prelude(buffer: bytearray, total: int, headers_len: int, prelude_crc: int) -> None:
    if zlib.crc32(buffer[:8]) != prelude_crc:
        raise EventStreamError("event-stream prelude CRC mismatch")
    if total < _MIN_MESSAGE_LEN or headers_len > _MAX_HEADERS_LEN or headers_len > total - _MIN_MESSAGE_LEN:
        raise EventStreamError(
            f"event-stream message with impossible lengths (total {total}, headers {headers_len})"
        )
    if total - _MIN_MESSAGE_LEN - headers_len > _MAX_PAYLOAD_LEN:
        raise EventStreamError(
            f"event-stream payload of {total - _MIN_MESSAGE_LEN - headers_len} bytes is too large"
        )


def _decode_frame(frame: bytes, headers_len: int) -> EventMessage:
    (message_crc,) = struct.unpack_from(">I", frame, len(frame) - 4)
    if zlib.crc32(frame[:-4]) != message_crc:
        raise EventStreamError("event-stream message CRC mismatch")
    headers_end = _PRELUDE_LEN + headers_len
    headers = _decode_headers(frame, _PRELUDE_LEN, headers_end)
    return EventMessage(headers, frame[headers_end:-4])


def _decode_headers(frame: bytes, pos: int, end: int) -> dict[str, HeaderValue]:
    headers: dict[str, HeaderValue] = {}
    try:
        while pos < end:
            name_len = frame[pos]
            name = frame[pos + 1 : pos + 1 + name_len].decode("utf-8")
            pos += 1 + name_len
            kind = frame[pos]
            pos += 1
            value: HeaderValue
            if kind in (0, 1):
                value = kind == 0
            elif kind in _INT_TYPES:
                unpacker = _INT_TYPES[kind]
                (value,) = unpacker.unpack_from(frame, pos)
                pos += unpacker.size
            elif kind in (6, 7):
                (size,) = _U16.unpack_from(frame, pos)
                raw = frame[pos + 2 : pos + 2 + size]
                if len(raw) != size:
                    raise EventStreamError("event-stream header value runs past the headers")
                value = raw.decode("utf-8") if kind == 7 else raw
                pos += 2 + size
            elif kind == _TIMESTAMP:
                (value,) = _INT_TYPES[5].unpack_from(frame, pos)
                pos += 8
            elif kind == _UUID:
                value = frame[pos : pos + 16]
                pos += 16
            else:
                raise EventStreamError(f"unknown event-stream header type {kind}")
            headers[name] = value
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise EventStreamError(f"malformed event-stream headers ({exc})") from exc
    if pos != end:
        raise EventStreamError("event-stream headers overrun their declared length")
    return headers


def encode_message(headers: Mapping[str, HeaderValue], payload: bytes) -> bytes:
    """One message in wire form: strings as type 7, bytes as 6, bools 0/1, ints as i32 or i64."""
    encoded = bytearray()
    for name, value in headers.items():
        raw_name = name.encode("utf-8")
        encoded.append(len(raw_name))
        encoded += raw_name
        if isinstance(value, bool):
            encoded.append(0 if value else 1)
        elif isinstance(value, int):
            kind = 4 if -(2**31) <= value < 2**31 else 5
            encoded.append(kind)
            encoded += _INT_TYPES[kind].pack(value)
        else:
            raw = value.encode("utf-8") if isinstance(value, str) else value
            encoded.append(7 if isinstance(value, str) else 6)
            encoded += _U16.pack(len(raw)) + raw
    total = _MIN_MESSAGE_LEN + len(encoded) + len(payload)
    prelude = struct.pack(">II", total, len(encoded))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + bytes(encoded) + payload
    return body + struct.pack(">I", zlib.crc32(body))
