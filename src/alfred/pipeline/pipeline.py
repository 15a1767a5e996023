"""Builds the ordered chain of stages once, at startup, ending at the handler."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence

from alfred.pipeline.call import Call, Result
from alfred.pipeline.stage import Next, Stage


class Pipeline:
    """A fixed chain: ``stages[0]`` runs first and calls into ``stages[1]`` … then ``handler``."""

    def __init__(self, stages: Sequence[Stage], handler: Next) -> None:
        self.stage_names = [stage.name for stage in stages]
        chain: Next = handler
        for stage in reversed(stages):
            chain = _bind(stage, chain)
        self._chain = chain

    async def run(self, call: Call) -> Result:
        return await self._chain(call)


def _bind(stage: Stage, next_: Next) -> Next:
    return _Step(stage, next_)


class _Step:
    """``stage`` with its ``next`` bound. A plain callable that returns the stage's coroutine, so a
    chain of n stages costs n coroutines per call rather than 2n."""

    __slots__ = ("_next", "_stage")

    def __init__(self, stage: Stage, next_: Next) -> None:
        self._stage = stage
        self._next = next_

    def __call__(self, call: Call) -> Awaitable[Result]:
        return self._stage(call, self._next)
