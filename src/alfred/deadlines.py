"""Deadline scopes that share one timer: ``asyncio.timeout`` semantics for the request path's limits.

Every request opens two deadline scopes (the whole call's, the upstream's first byte or total) and a
stream one per chunk. ``asyncio.timeout`` arms a timer of its own for each and cancels it on the way
out; under uvloop that costs 6-7 µs a scope, about 8% of what a pass-through request costs Alfred.
Here the live scopes sit in a dict, and one timer, armed for the earliest deadline (plus
``resolution_s``), expires whichever are due when it fires and re-arms for the next. A request's
deadlines are almost never earlier than one already in the dict, so opening and closing a scope is
a dict write and a delete. A deadline then fires up to ``resolution_s`` late; limits are seconds.

On expiry a scope cancels its task and turns the ``CancelledError`` into ``TimeoutError`` on the way
out, exactly as ``asyncio.timeout`` does (a cancellation from elsewhere stays a cancellation).
"""

from __future__ import annotations

import asyncio
import math
from types import TracebackType

# Scope states, as asyncio.timeouts names them.
_CREATED, _ENTERED, _EXPIRING, _EXPIRED, _EXITED = range(5)


class Deadlines:
    """The deadline scopes of one event loop, expired together by one timer."""

    def __init__(self, resolution_s: float = 0.005) -> None:
        self._resolution_s = resolution_s
        self._live: dict[Deadline, float] = {}
        self._sweep_at = math.inf
        self._sweep_handle: asyncio.TimerHandle | None = None

    def after(self, seconds: float) -> Deadline:
        """A scope whose deadline is ``seconds`` from now, like ``asyncio.timeout(seconds)``."""
        loop = asyncio.get_running_loop()
        return Deadline(self, loop, loop.time() + seconds)

    def __len__(self) -> int:
        return len(self._live)

    def _watch(self, scope: Deadline, when: float) -> None:
        self._live[scope] = when
        # The armed sweep may come up to one resolution after a deadline: re-arm only for one earlier.
        if self._sweep_at > when + self._resolution_s:
            self._arm(scope.loop, when)

    def _forget(self, scope: Deadline) -> None:
        self._live.pop(scope, None)

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._sweep_handle is not None:
            self._sweep_handle.cancel()
        self._sweep_at = when + self._resolution_s / 2
        self._sweep_handle = loop.call_at(self._sweep_at, self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sweep_handle, self._sweep_at = None, math.inf
        now = loop.time()
        due = [scope for scope, when in self._live.items() if when <= now]
        for scope in due:
            del self._live[scope]
            scope.expire()
        if self._live:
            self._arm(loop, min(self._live.values()))


class Deadline:
    """One scope: ``async with deadlines.after(s):`` raises ``TimeoutError`` if ``s`` passes inside."""

    __slots__ = ("_cancelling", "_deadlines", "_state", "_task", "_when", "loop")

    def __init__(self, deadlines: Deadlines, loop: asyncio.AbstractEventLoop, when: float) -> None:
        self._deadlines = deadlines
        self.loop = loop
        self._when = when
        self._state = _CREATED
        self._task: asyncio.Task[object] | None = None
        self._cancelling = 0

    def reschedule(self, when: float) -> None:
        """Move the deadline (loop time), as ``asyncio.Timeout.reschedule``; only while inside."""
        if self._state != _ENTERED:
            raise RuntimeError("a deadline can be moved only inside its scope, before it expires")
        self._when = when
        self._deadlines._watch(self, when)

    def expired(self) -> bool:
        return self._state in (_EXPIRING, _EXPIRED)

    def expire(self) -> None:
        """The deadline passed: cancel the task inside the scope."""
        if self._state == _ENTERED and self._task is not None:
            self._state = _EXPIRING
            self._task.cancel()

    async def __aenter__(self) -> Deadline:
        if self._state != _CREATED:
            raise RuntimeError("a deadline scope is entered once")
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a deadline scope must be used inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self._state = _ENTERED
        self._deadlines._watch(self, self._when)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._deadlines._forget(self)
        if self._state == _EXPIRING:
            self._state = _EXPIRED
            assert self._task is not None
            if self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
                raise TimeoutError from exc
        elif self._state == _ENTERED:
            self._state = _EXITED
