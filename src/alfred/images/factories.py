"""Where concrete backends and blob stores plug in: a constructor per kind name.

The composition root passes ``backend_factories`` (kind → constructor) to ``build_image_service``;
each configured backend with ``slots: N`` is built N times (one generation per instance, so
``cancel()`` is never ambiguous). Kinds are plain names from config (``space``, ``replicate``,
``openai-images``, ``diffusers``, …); nothing here imports a provider.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from alfred.images.backend import ImageBackend
from alfred.images.pool import BackendPool, PoolMember
from alfred.images.settings import BackendSettings, ImageModelSettings, ImageSettings
from alfred.storage.blobs import BlobStore

BackendFactory = Callable[[str, BackendSettings], ImageBackend]
"""(configured backend name, its settings) → one backend instance."""

BlobStoreFactory = Callable[[Mapping[str, Any]], BlobStore]
"""(the store's options from config) → a blob store."""


def build_pool(
    settings: ImageSettings,
    model: ImageModelSettings,
    backend_names: list[str],
    factories: Mapping[str, BackendFactory],
) -> BackendPool:
    """The pool of backend instances for one model's route, in configured order."""
    members: list[PoolMember] = []
    for name in backend_names:
        backend_settings = settings.backends[name]
        factory = factories.get(backend_settings.kind)
        if factory is None:
            known = ", ".join(sorted(factories)) or "none"
            raise ValueError(
                f"images.backends.{name}.kind: no constructor for kind {backend_settings.kind!r} (known: {known})"
            )
        upstream = backend_settings.model or model.name
        members.extend(
            PoolMember(factory(name, backend_settings), upstream) for _ in range(backend_settings.slots)
        )
    return BackendPool(members)


def build_blob_store(
    kind: str, options: Mapping[str, Any], factories: Mapping[str, BlobStoreFactory]
) -> BlobStore:
    factory = factories.get(kind)
    if factory is None:
        known = ", ".join(sorted(factories)) or "none"
        raise ValueError(f"storage kind {kind!r} has no constructor (known: {known})")
    return factory(options)


def primary_slots(settings: ImageSettings, model: ImageModelSettings) -> int:
    """How many jobs the model's primary pool runs at once, across all its workers."""
    return sum(settings.backends[name].slots for name in model.primary)
