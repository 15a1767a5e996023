"""Deadline scopes behave as asyncio.timeout does (TimeoutError on expiry, cancellation from elsewhere
kept, nesting, rescheduling), fire within their resolution, and leave nothing behind."""

from __future__ import annotations

import asyncio

import pytest

from alfred.deadlines import Deadlines

RES = 0.005


async def test_a_call_within_its_deadline_returns_and_leaves_nothing() -> None:
    deadlines = Deadlines(RES)
    async with deadlines.after(1) as scope:
        await asyncio.sleep(0.01)
    assert not scope.expired() and len(deadlines) == 0


async def test_an_expired_deadline_is_a_timeout_error_within_the_resolution() -> None:
    deadlines = Deadlines(RES)
    loop = asyncio.get_running_loop()
    began = loop.time()
    with pytest.raises(TimeoutError):
        async with deadlines.after(0.05) as scope:
            await asyncio.sleep(10)
    waited = loop.time() - began
    assert scope.expired() and 0.05 <= waited < 0.05 + RES + 0.05
    assert len(deadlines) == 0 and asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_a_deadline_already_past_fires_at_once() -> None:
    deadlines = Deadlines(RES)
    with pytest.raises(TimeoutError):
        async with deadlines.after(-1):
            await asyncio.sleep(1)


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    deadlines = Deadlines(RES)
    entered = asyncio.Event()

    async def inside() -> None:
        async with deadlines.after(10):
            entered.set()
            await asyncio.sleep(10)

    task = asyncio.ensure_future(inside())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(deadlines) == 0


async def test_nested_scopes_each_answer_for_their_own_deadline() -> None:
    deadlines = Deadlines(RES)
    # The inner one expires first and is caught inside the outer one, which then expires itself.
    with pytest.raises(TimeoutError):
        async with deadlines.after(0.1) as outer:
            with pytest.raises(TimeoutError):
                async with deadlines.after(0.02):
                    await asyncio.sleep(10)
            assert not outer.expired()
            await asyncio.sleep(10)
    assert outer.expired()
    # The outer one expires while the inner one (a later deadline) is open: the outer one raises.
    with pytest.raises(TimeoutError):
        async with deadlines.after(0.02) as outer:
            try:
                async with deadlines.after(10) as inner:
                    await asyncio.sleep(10)
            except TimeoutError:  # pragma: no cover - the inner scope must not claim it
                pytest.fail("the inner scope turned the outer deadline into its own timeout")
    assert outer.expired() and not inner.expired() and len(deadlines) == 0


async def test_scopes_expire_in_deadline_order_whatever_the_order_they_opened_in() -> None:
    deadlines = Deadlines(RES)
    loop = asyncio.get_running_loop()
    fired: list[tuple[float, float]] = []

    async def wait(seconds: float) -> None:
        began = loop.time()
        try:
            async with deadlines.after(seconds):
                await asyncio.sleep(10)
        except TimeoutError:
            fired.append((seconds, loop.time() - began))

    await asyncio.gather(*(wait(s) for s in (0.09, 0.03, 0.06, 0.3, 0.01)))
    assert [s for s, _ in fired] == [0.01, 0.03, 0.06, 0.09, 0.3]
    assert all(s <= took < s + RES + 0.05 for s, took in fired)


async def test_rescheduling_moves_the_deadline_both_ways() -> None:
    deadlines = Deadlines(RES)
    loop = asyncio.get_running_loop()
    async with deadlines.after(0.02) as scope:
        scope.reschedule(loop.time() + 10)
        await asyncio.sleep(0.05)  # past the first deadline: nothing fires
    assert not scope.expired()
    began = loop.time()
    with pytest.raises(TimeoutError):
        async with deadlines.after(10) as scope:
            scope.reschedule(loop.time() + 0.03)
            await asyncio.sleep(10)
    assert loop.time() - began < 0.03 + RES + 0.05
    with pytest.raises(RuntimeError):
        scope.reschedule(loop.time() + 1)


async def test_a_scope_is_entered_once_and_only_inside_a_task() -> None:
    deadlines = Deadlines(RES)
    scope = deadlines.after(1)
    async with scope:
        pass
    with pytest.raises(RuntimeError):
        async with scope:
            pass
