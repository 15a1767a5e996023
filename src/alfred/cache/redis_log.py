"""The semantic cache's shared log in Redis: one stream, trimmed to the newest entries.

Every process appends the questions it stores (XADD with an approximate MAXLEN, so the stream stays
bounded at about the index size) and reads what the others stored from its own cursor (XREAD
without BLOCK: a pull on the lookup path costs one round trip at most once per sync interval).
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis


class RedisSemanticLog:
    """``SemanticLog`` over a Redis stream at ``<prefix>semantic:log``."""

    def __init__(self, client: Redis, prefix: str = "alfred:cache:", max_entries: int = 100_000) -> None:
        self._client = client
        self._key = prefix + "semantic:log"
        self._max_entries = max_entries

    async def append(self, record: bytes) -> None:
        await self._client.xadd(self._key, {b"r": record}, maxlen=self._max_entries, approximate=True)

    async def read(self, cursor: str, count: int) -> tuple[list[bytes], str]:
        replies: Any = await self._client.xread({self._key: cursor}, count=count)
        if isinstance(replies, dict):  # RESP3 answers a map of stream → entries
            replies = list(replies.items())
        records: list[bytes] = []
        for _stream, entries in replies or ():
            for entry_id, fields in entries:
                if fields is None:  # an entry trimmed while being read
                    continue
                cursor = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                value = fields.get(b"r") if b"r" in fields else fields.get("r")
                if isinstance(value, str):
                    value = value.encode()
                if value is not None:
                    records.append(value)
        return records, cursor

    async def clear(self) -> None:
        """Drop the whole log (admin use and tests)."""
        await self._client.delete(self._key)
