"""The stream-limit stage: a cap on concurrent streams per API key.

A stream holds a connection, an upstream request and a worker's attention for as long as the model
talks, so one key opening hundreds of them starves everyone else even while its request rate is
modest. Each streaming call takes a slot from a per-key counter in the state backend
(``KeyValueStore.incr``: a dict in the memory backend, one Redis ``INCRBY`` shared by every gateway
process in scale-out) and gives it back when the stream ends, through ``call.on_finish``. Over the
cap the call is refused with 429 before any provider is asked.

Which key: ``call.identity.key_id`` once auth has run; before that (or with auth off) a keyed hash
of the presented credential; a call with no credential at all is counted per client IP.

The counter carries a lease (``lease_s``, set when it is created) so slots held by a process that
died are freed within the lease instead of never. A counter that lapses while streams are open
lets a key briefly open more than its cap; releases that would drive it below zero are evened out.
"""

from __future__ import annotations

import hashlib
import logging

from pydantic import Field

from alfred.configbase import Strict
from alfred.errors import RateLimitError
from alfred.pipeline.call import Call, Result
from alfred.pipeline.stage import Next
from alfred.state.base import KeyValueStore

log = logging.getLogger("alfred.stream_limit")

CODE = "concurrent_streams_exceeded"


class StreamLimitSettings(Strict):
    """How many streams one API key may have open at once."""

    enabled: bool = True
    max_per_key: int = Field(32, ge=1, description="concurrent streaming responses per API key")
    lease_s: float = Field(
        3600.0,
        gt=0,
        description="a counter not touched for this long is dropped (frees dead processes' slots)",
    )
    fail_open: bool = Field(True, description="let streams through when the state backend is unreachable")
    key_prefix: str = Field("streams:", description="prefix of the counters in the key-value store")


class StreamLimitStage:
    """Pipeline stage ``stream_limit``; see the module docstring."""

    name = "stream_limit"

    def __init__(
        self, kv: KeyValueStore, settings: StreamLimitSettings, *, key_hash_secret: bytes = b""
    ) -> None:
        self._kv = kv
        self._settings = settings
        self._hash_key = hashlib.sha256(key_hash_secret).digest()

    async def __call__(self, call: Call, next: Next) -> Result:
        if not self._settings.enabled or not call.stream:
            return await next(call)
        counter = self._settings.key_prefix + self.holder(call)
        slot = await self._acquire(counter)
        if slot is None:
            return await next(call)  # failed open
        call.on_finish(slot.release)
        try:
            return await next(call)
        except BaseException:
            # No stream will follow: free the slot now, not when (or if) the endpoint finishes.
            await slot.release(call)
            raise

    def holder(self, call: Call) -> str:
        """Whose slots this call uses: the key id, else a keyed hash of the credential, else the IP."""
        if call.identity.key_id:
            return "key:" + call.identity.key_id
        headers = call.headers
        auth = headers.get("authorization", "")
        secret = auth[7:].strip() if auth[:7].lower() == "bearer " else headers.get("x-api-key", "").strip()
        if secret:
            digest = hashlib.blake2b(secret.encode(), key=self._hash_key, digest_size=12).hexdigest()
            return "cred:" + digest
        return "ip:" + (call.client_ip or "unknown")

    async def _acquire(self, counter: str) -> _Slot | None:
        limit = self._settings.max_per_key
        try:
            count = await self._kv.incr(counter, 1, ttl_s=self._settings.lease_s)
        except Exception:
            if not self._settings.fail_open:
                raise
            log.warning("stream counter unavailable; stream let through", exc_info=True)
            return None
        if count > limit:
            await _give_back(self._kv, counter)
            raise RateLimitError(
                f"too many concurrent streams for this API key: the limit is {limit}; "
                "wait for one to finish or use a non-streaming request",
                code=CODE,
                headers={"retry-after": "1"},
            )
        return _Slot(self._kv, counter)


class _Slot:
    """One held stream slot; ``release`` is the finish hook and gives the slot back once."""

    __slots__ = ("_counter", "_kv", "_released")

    def __init__(self, kv: KeyValueStore, counter: str) -> None:
        self._kv = kv
        self._counter = counter
        self._released = False

    async def release(self, call: Call) -> None:
        if self._released:
            return
        self._released = True
        try:
            await _give_back(self._kv, self._counter)
        except Exception:
            log.warning("could not release a stream slot; it frees when the lease ends", exc_info=True)


async def _give_back(kv: KeyValueStore, counter: str) -> None:
    left = await kv.incr(counter, -1)
    if left < 0:
        # The counter lapsed (lease) while streams were open and restarted from zero; additive, so a
        # concurrent acquire is kept.
        await kv.incr(counter, -left)
