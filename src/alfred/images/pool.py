"""``BackendPool``: the backend instances one worker may run jobs on, each busy with at most one job.

A backend configured with ``slots: N`` is N instances (so ``cancel()`` always means one generation).
``acquire`` hands out a free instance, preferring backends the job has not failed on yet.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from alfred.images.backend import ImageBackend


@dataclass(frozen=True, slots=True)
class PoolMember:
    """One backend instance and the upstream model id it renders the pool's model with."""

    backend: ImageBackend
    upstream_model: str


class BackendPool:
    """Free/busy bookkeeping over backend instances, in order of preference."""

    def __init__(self, members: Sequence[PoolMember]) -> None:
        if not members:
            raise ValueError("a backend pool needs at least one backend")
        self._members = list(members)
        self._free = list(range(len(members)))
        self._changed = asyncio.Condition()

    @property
    def size(self) -> int:
        return len(self._members)

    @property
    def free(self) -> int:
        return len(self._free)

    def names(self) -> list[str]:
        return [m.backend.name for m in self._members]

    def _pick(self, avoid: frozenset[str]) -> int | None:
        if not self._free:
            return None
        for index in self._free:
            if self._members[index].backend.name not in avoid:
                return index
        return self._free[0]

    @asynccontextmanager
    async def acquire(self, avoid: frozenset[str] = frozenset()) -> AsyncIterator[PoolMember]:
        """A free member (waiting for one); one named in ``avoid`` only when no other is free."""
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self._free))
            index = self._pick(avoid)
            assert index is not None
            self._free.remove(index)
        try:
            yield self._members[index]
        finally:
            self._free.append(index)
            self._free.sort()
            async with self._changed:
                self._changed.notify()

    async def close(self) -> None:
        for member in self._members:
            await member.backend.close()
