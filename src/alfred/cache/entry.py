"""What a cache entry holds: the canonical answer, when it was stored, and for how long it is fresh.

Entries are MessagePack bytes (compact, and decoding them afresh gives every hit its own copy, so
no later stage can change what the next hit sees). Times are wall-clock seconds: entries are shared
between processes and hosts through Redis.
"""

from __future__ import annotations

import msgspec

from alfred.schema import ChatResponse, Usage


class CachedAnswer(msgspec.Struct, kw_only=True):
    """One stored answer; ``question`` is the embedded text for semantic entries."""

    response: ChatResponse
    stored_at: float
    ttl_s: float
    question: str | None = None

    def fresh(self, now: float) -> bool:
        return now - self.stored_at < self.ttl_s

    def usable(self, now: float, stale_ttl_s: float) -> bool:
        """Still inside its fresh period plus the stale window (served only when upstreams are down)."""
        return now - self.stored_at < self.ttl_s + stale_ttl_s

    @property
    def usage(self) -> Usage:
        usage = self.response.usage
        return usage if isinstance(usage, Usage) else Usage()


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(CachedAnswer)


def encode_answer(answer: CachedAnswer) -> bytes:
    return _encoder.encode(answer)


def decode_answer(data: bytes) -> CachedAnswer | None:
    """The entry, or None when the bytes are not one (a format change, a foreign key): a miss."""
    try:
        return _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
