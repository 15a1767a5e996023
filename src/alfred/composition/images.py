"""Wires the image pipeline: backends by kind (secrets resolved), the blob store, the service, the API."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from alfred.api.images import (
    JOBS_PREFIX,
    CallerOf,
    ImageGenerationsEndpoint,
    ImageJobsEndpoint,
    credential_caller,
)
from alfred.images.backend import ImageBackend
from alfred.images.background import background_postprocess
from alfred.images.batcher import BatchSlot, DynamicBatcher
from alfred.images.build import ImageRuntime, build_image_service
from alfred.images.charges import ImageCharges, Reserver, Settler
from alfred.images.factories import BackendFactory
from alfred.images.metrics import ImageMetrics
from alfred.images.prompt_safety import ImagePromptSafety
from alfred.images.settings import BackendSettings, ImageSettings
from alfred.providers.transport import HttpTransport
from alfred.secrets import SecretResolver
from alfred.state import StateBackend
from alfred.storage.blobs import BlobStore
from alfred.storage.factory import build_blob_store, files_endpoint
from alfred.storage.settings import LocalStorageSettings, StorageSettings

# Option fields that hold secrets: resolved through the resolver (env:, file:, vault:), never logged.
_SECRET_FIELDS = frozenset({"api_token", "hf_token", "api_key"})


def _options(cls: type[Any], name: str, raw: Mapping[str, Any], resolver: SecretResolver) -> Any:
    """A backend's options dataclass from config, with secret references resolved and money as Decimal."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ValueError(f"images.backends.{name}.options: unknown option(s) {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _SECRET_FIELDS and isinstance(value, str):
            value = resolver.resolve(value)
        elif key.startswith("price") and value is not None:
            value = Decimal(str(value))
        values[key] = value
    return cls(**values)


def backend_factories(transport: HttpTransport, resolver: SecretResolver) -> dict[str, BackendFactory]:
    """Constructors per backend kind; provider modules are imported only when a kind is configured."""

    def replicate(name: str, s: BackendSettings) -> ImageBackend:
        from alfred.providers.replicate import ReplicateBackend, ReplicateOptions

        return ReplicateBackend(name, _options(ReplicateOptions, name, s.options, resolver), transport)

    def space(name: str, s: BackendSettings) -> ImageBackend:
        from alfred.providers.spaces import SpaceBackend, SpaceOptions

        return SpaceBackend(name, _options(SpaceOptions, name, s.options, resolver), transport)

    def openai_images(name: str, s: BackendSettings) -> ImageBackend:
        from alfred.providers.openai_images import OpenAIImagesBackend, OpenAIImagesOptions

        return OpenAIImagesBackend(name, _options(OpenAIImagesOptions, name, s.options, resolver), transport)

    batchers: dict[str, DynamicBatcher] = {}  # per diffusers backend name: one pipeline for all its slots

    def diffusers(name: str, s: BackendSettings) -> ImageBackend:
        from alfred.providers.diffusers_local import DiffusersBackend, DiffusersOptions, diffusers_batcher

        raw = dict(s.options)
        raw.setdefault("model", s.model or name)
        options = _options(DiffusersOptions, name, raw, resolver)
        if s.slots <= 1 or options.max_batch <= 1:
            return DiffusersBackend(name, options)  # nothing to batch with
        if name not in batchers:
            batchers[name] = diffusers_batcher(name, options)
        return BatchSlot(name, "diffusers", batchers[name])

    return {"replicate": replicate, "space": space, "openai-images": openai_images, "diffusers": diffusers}


@dataclass
class ImageParts:
    """The image pipeline as the gateway serves it."""

    runtime: ImageRuntime
    blobs: BlobStore
    exact: dict[tuple[str, str], Any]
    prefixes: list[tuple[str, str, Any]]


def build_images(
    settings: ImageSettings,
    storage: StorageSettings,
    *,
    state: StateBackend,
    transport: HttpTransport,
    resolver: SecretResolver,
    max_body_bytes: int,
    run_workers: bool | None = None,
    public_origin: str | None = None,
    caller_of: CallerOf = credential_caller,
    safety: ImagePromptSafety | None = None,
    settler: Settler | None = None,
    reserver: Reserver | None = None,
    metrics: ImageMetrics | None = None,
) -> ImageParts:
    """``public_origin`` (http://host:port) makes local-store URLs absolute, as OpenAI clients expect.

    Governance hooks, all optional: ``caller_of`` says who is calling (``authenticated_caller`` over
    the gateway's authenticator); ``safety`` screens prompts; ``settler`` (the ledger's wallets)
    settles and releases image holds, and with ``reserver`` (the ledger's governance) the API holds
    each job's price before queueing it. A worker-only process passes just ``settler``. ``metrics``
    (the gateway's ``GatewayMetrics``) counts jobs by route and outcome and watches queue depth.
    """
    lookup = resolver.resolve
    if isinstance(storage, LocalStorageSettings) and storage.public_base_url is None and public_origin:
        storage = storage.model_copy(update={"public_base_url": public_origin + storage.url_prefix})
    blobs = build_blob_store(storage, lookup)
    charges = ImageCharges(settings, settler, reserver) if settler is not None else None
    runtime = build_image_service(
        settings,
        blobs=blobs,
        state=state,
        backend_factories=backend_factories(transport, resolver),
        webhook_secret=lookup(settings.webhooks.secret) if settings.webhooks.secret else None,
        postprocess=background_postprocess(settings.background_removal, settings.background_model),
        run_workers=run_workers,
        charge=charges.settle if charges is not None else None,
        release=charges.release if charges is not None else None,
        metrics=metrics,
    )
    generations = ImageGenerationsEndpoint(
        runtime.service,
        blobs,
        max_body_bytes,
        caller_of,
        safety=safety,
        charges=charges if reserver is not None else None,
    )
    jobs = ImageJobsEndpoint(runtime.service, caller_of)
    exact: dict[tuple[str, str], Any] = {("POST", "/v1/images/generations"): generations}
    prefixes: list[tuple[str, str, Any]] = [("GET", JOBS_PREFIX, jobs), ("DELETE", JOBS_PREFIX, jobs)]
    served = files_endpoint(storage)
    if served is not None:
        prefix, endpoint = served
        prefixes.extend([("GET", prefix, endpoint), ("HEAD", prefix, endpoint)])
    return ImageParts(runtime, blobs, exact, prefixes)
