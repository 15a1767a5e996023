"""The stage protocol: ``async (call, next) -> result``; a stage may act before and after ``next``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from alfred.pipeline.call import Call, Result

Next = Callable[[Call], Awaitable[Result]]


class Stage(Protocol):
    """One step of the pipeline. Stages never reach into each other; they read and write the Call."""

    name: str

    async def __call__(self, call: Call, next: Next) -> Result: ...
