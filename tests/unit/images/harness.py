"""Builds a whole image pipeline (memory state, fake backends, memory blobs) for tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from alfred.images.build import ImageRuntime, build_image_service
from alfred.images.jobs import ImageJob
from alfred.images.settings import ImageSettings
from alfred.images.webhooks import new_secret
from alfred.state import StateBackend, memory_backend
from tests.unit.images.fakes import Charges, FakeBackends, MemoryBlobStore

BASE: dict[str, Any] = {
    "backends": {
        "space-1": {"kind": "fake"},
        "space-2": {"kind": "fake"},
        "replicate": {"kind": "fake", "slots": 4},
        "openai-images": {"kind": "fake"},
    },
    "models": [
        {
            "name": "sdxl",
            "primary": ["space-1", "space-2"],
            "fallback": ["replicate", "openai-images"],
            "size": "512x512",
            "steps": 4,
            "prices": {"primary": "0.001", "fallback": "0.0023"},
        }
    ],
    "queue": {"visibility_timeout_s": 5, "block_s": 0.05},
    "workers": {"heartbeat_s": 0.05},
}


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        out[key] = (
            merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


def image_settings(**override: Any) -> ImageSettings:
    return ImageSettings.model_validate(merge(BASE, override))


@dataclass
class Harness:
    runtime: ImageRuntime
    backends: FakeBackends
    blobs: MemoryBlobStore
    charges: Charges
    webhook_secret: str

    @property
    def service(self) -> Any:
        return self.runtime.service


@asynccontextmanager
async def running(
    settings: ImageSettings,
    *,
    backends: FakeBackends | None = None,
    state: StateBackend | None = None,
    blobs: MemoryBlobStore | None = None,
    start: bool = True,
    **kwargs: Any,
) -> AsyncIterator[Harness]:
    backends = backends or FakeBackends()
    blobs = blobs or MemoryBlobStore()
    charges = Charges()
    secret = new_secret()
    runtime = build_image_service(
        settings,
        blobs=blobs,
        state=state or memory_backend(),
        backend_factories={"fake": backends},
        charge=charges,
        webhook_secret=secret,
        consumer="test",
        **kwargs,
    )
    if start:
        await runtime.start()
    try:
        yield Harness(runtime, backends, blobs, charges, secret)
    finally:
        await runtime.stop(grace_s=1.0)


async def until(check: Callable[[], Awaitable[bool]] | Callable[[], bool], deadline_s: float = 10.0) -> None:
    """Poll ``check`` until it is true, failing after ``deadline_s``."""
    deadline = time.monotonic() + deadline_s
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {deadline_s}s")
        await asyncio.sleep(0.01)


async def job_state(service: Any, tenant: str, job_id: str) -> ImageJob:
    job: ImageJob = await service.get(tenant, job_id)
    return job
