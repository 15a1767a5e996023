"""The model catalog: public model names (groups) and the deployments that serve them."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from alfred.config import DEFAULT_BASE_URLS, ProviderSettings, Settings
from alfred.configbase import Price
from alfred.errors import ModelNotFoundError
from alfred.providers.base import Endpoint, ProviderAdapter
from alfred.providers.registry import adapter_for
from alfred.providers.transport import Timeouts
from alfred.schema import Usage
from alfred.secrets import SecretError, SecretResolver

log = logging.getLogger("alfred.routing")

_MILLION = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class Deployment:
    """One upstream model a group can route to."""

    id: str  # "group/provider/model", unique; used as the health and breaker key
    group: str
    endpoint: Endpoint
    adapter: ProviderAdapter
    timeouts: Timeouts
    weight: int
    price: Price | None
    region: str | None = None
    sla_ms: int | None = None
    rpm: int | None = None
    tpm: int | None = None


@dataclass(frozen=True, slots=True)
class ModelGroup:
    """A public model name and its deployments, in config order."""

    name: str
    kind: str
    deployments: tuple[Deployment, ...]
    fallbacks: tuple[str, ...] = ()
    description: str | None = None
    demo: bool = False
    price: Price | None = None

    def list_price(self) -> Price | None:
        """The group's price, else its first priced deployment's (config order puts the primary first)."""
        if self.price is not None:
            return self.price
        return next((d.price for d in self.deployments if d.price is not None), None)


class ModelCatalog:
    """Looks up model groups by their public name."""

    def __init__(self, groups: Iterable[ModelGroup], skipped: dict[str, str] | None = None) -> None:
        self._groups = {group.name: group for group in groups}
        self.skipped = skipped or {}  # provider name → why it is not served

    def get(self, name: str) -> ModelGroup:
        group = self._groups.get(name)
        if group is None:
            raise ModelNotFoundError(
                f"The model '{name}' does not exist or is not served here; GET /v1/models lists the models.",
                param="model",
            )
        return group

    def groups(self) -> list[ModelGroup]:
        return list(self._groups.values())

    def __contains__(self, name: object) -> bool:
        return name in self._groups

    def cost_usd(self, name: str, usage: Usage) -> Decimal | None:
        """What ``usage`` costs on the group at its list price (None: unknown group or no price).

        For figures such as what a cache hit saved; the ledger charges with its own pricing.
        """
        group = self._groups.get(name)
        price = group.list_price() if group is not None else None
        if price is None:
            return None
        tokens = price.input_per_mtok * usage.prompt_tokens + price.output_per_mtok * usage.completion_tokens
        return tokens / _MILLION

    @classmethod
    def from_settings(cls, settings: Settings, resolver: SecretResolver) -> ModelCatalog:
        endpoints_ok: dict[str, tuple[ProviderSettings, str | None]] = {}
        skipped: dict[str, str] = {}
        for name, provider in settings.providers.items():
            try:
                key = resolver.resolve(provider.api_key)
            except SecretError as exc:
                if provider.optional:
                    skipped[name] = str(exc)
                    log.debug("provider %s skipped: %s", name, exc)
                    continue
                raise
            endpoints_ok[name] = (provider, key)
        groups = []
        for group in settings.models:
            deployments = []
            for d in group.deployments:
                if d.provider not in endpoints_ok:
                    continue
                provider, key = endpoints_ok[d.provider]
                base_url = provider.base_url or DEFAULT_BASE_URLS.get(provider.kind, "")
                if "{region}" in base_url:
                    base_url = base_url.replace(
                        "{region}", d.region or provider.options.get("region", "us-east-1")
                    )
                options = dict(provider.options)
                if d.region:
                    options["region"] = d.region
                endpoint = Endpoint(
                    provider=d.provider,
                    kind=provider.kind,
                    base_url=base_url,
                    model=d.model,
                    api_key=key,
                    api_version=provider.api_version,
                    headers=dict(provider.headers),
                    options=options,
                )
                t = provider.timeouts
                deployments.append(
                    Deployment(
                        id=f"{group.name}/{d.provider}/{d.model}",
                        group=group.name,
                        endpoint=endpoint,
                        adapter=adapter_for(provider.kind),
                        timeouts=Timeouts(t.connect, t.first_byte, t.total, t.stream_idle),
                        weight=d.weight,
                        price=d.price or group.price,
                        region=d.region,
                        sla_ms=d.sla_ms,
                        rpm=d.rpm,
                        tpm=d.tpm,
                    )
                )
            if not deployments:
                continue  # every provider behind it is optional and absent
            groups.append(
                ModelGroup(
                    name=group.name,
                    kind=group.kind,
                    deployments=tuple(deployments),
                    fallbacks=tuple(group.fallbacks),
                    description=group.description,
                    demo=group.demo,
                    price=group.price,
                )
            )
        return cls(groups, skipped)
