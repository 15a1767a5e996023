"""``LazyApp`` builds its app once, on the first request, even when requests arrive together."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from alfred.api.lazy_app import LazyApp


class Recorder:
    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.paths.append(scope["path"])


async def test_built_once_on_first_use_off_the_event_loop() -> None:
    inner = Recorder()
    builds: list[str] = []
    loop_thread = threading.current_thread().name

    def build() -> Recorder:
        builds.append(threading.current_thread().name)
        return inner

    app = LazyApp(build)
    assert builds == []  # nothing is built until a request needs it
    await asyncio.gather(*(app({"path": f"/admin/{i}"}, None, None) for i in range(5)))
    await app({"path": "/admin/again"}, None, None)
    assert len(builds) == 1 and builds[0] != loop_thread
    assert sorted(inner.paths) == sorted([*(f"/admin/{i}" for i in range(5)), "/admin/again"])


async def test_a_failed_build_is_tried_again() -> None:
    attempts: list[int] = []
    inner = Recorder()

    def build() -> Recorder:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("first build fails")
        return inner

    app = LazyApp(build)
    with pytest.raises(RuntimeError):
        await app({"path": "/admin/x"}, None, None)
    await app({"path": "/admin/y"}, None, None)
    assert len(attempts) == 2 and inner.paths == ["/admin/y"]
