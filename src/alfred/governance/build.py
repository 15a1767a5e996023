"""Wires governance for the composition root: the ledger, who is calling (auth), who pays (quota), and
the background work they need (migrations at start, expiring reservations that outlived their request).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from alfred.config import Settings
from alfred.governance.authenticator import Authenticator
from alfred.governance.costing import Costing, GroupChooser
from alfred.governance.key_limits import key_limits_from
from alfred.ledger import Ledger
from alfred.ledger.check import check_ledger
from alfred.ledger.gauges import read_gauges
from alfred.ledger.keys import KeyHasher
from alfred.ledger.money import MICROS_PER_USD
from alfred.pipeline.auth import AuthStage
from alfred.pipeline.quota import QuotaStage
from alfred.pipeline.rate_limit import KeyLimits
from alfred.routing.catalog import ModelCatalog
from alfred.secrets import SecretResolver
from alfred.state.db import migrate

if TYPE_CHECKING:
    from alfred.observability.metrics import GatewayMetrics

log = logging.getLogger("alfred.governance")

Hook = Callable[[], Awaitable[None]]


class GovernanceConfigError(ValueError):
    """Governance is on but its configuration cannot work (said in words a person can act on)."""


@dataclass
class GovernanceRuntime:
    """The governance parts a running gateway uses, and the hooks that start and stop them."""

    ledger: Ledger
    authenticator: Authenticator
    auth: AuthStage
    quota: QuotaStage
    costing: Costing
    startup: list[Hook] = field(default_factory=list)
    shutdown: list[Hook] = field(default_factory=list)

    @property
    def key_limits(self) -> KeyLimits:
        """Each key's own rpm/tpm for the rate-limit stage, before auth has run (seed order)."""
        return key_limits_from(self.authenticator)


class Reconciler:
    """Every ``interval_s``, expires open reservations past their time and frees what they held: the
    reservations of requests whose process was killed, or that hung.

    With ``metrics`` it also refreshes the ledger gauges each round (open reservations, credits held,
    team budgets used: a few aggregate queries), and every ``check_interval_s`` runs the ledger
    self-check for the drift gauge (it reads every entry, hence the longer interval).
    """

    def __init__(
        self,
        ledger: Ledger,
        interval_s: float,
        *,
        metrics: GatewayMetrics | None = None,
        check_interval_s: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ledger = ledger
        self._interval_s = interval_s
        self._metrics = metrics
        self._check_interval_s = check_interval_s
        self._monotonic = monotonic
        self._checked_at: float | None = None
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> int:
        expired = await self._ledger.wallets.reconcile_expired()
        if expired:
            log.warning("expired %d reservation(s) that outlived their request", len(expired))
        if self._metrics is not None:
            await self._refresh(self._metrics, len(expired))
        return len(expired)

    async def _refresh(self, metrics: GatewayMetrics, expired: int) -> None:
        if expired:
            metrics.reservation("expired", expired)
        gauges = await read_gauges(self._ledger.db)
        metrics.reservations_held(gauges.open_reservations, gauges.held / MICROS_PER_USD)
        for team_id, ratio in gauges.budgets.items():
            metrics.budget_used(str(team_id), ratio)
        now = self._monotonic()
        if self._checked_at is None or now - self._checked_at >= self._check_interval_s:
            self._checked_at = now
            report = await check_ledger(self._ledger.db)
            stale = sum(1 for p in report.problems if p.kind == "stale_reservation")
            metrics.ledger_drift(report.drift / MICROS_PER_USD, stale)

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("reconciling expired reservations failed; trying again next round")
            await asyncio.sleep(self._interval_s)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="alfred-ledger-reconcile")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def build_governance(
    settings: Settings,
    *,
    resolver: SecretResolver,
    catalog: ModelCatalog,
    group_for: GroupChooser | None = None,
    metrics: GatewayMetrics | None = None,
) -> GovernanceRuntime:
    """Build governance from settings (``settings.governance.enabled`` is the caller's test).
    With ``metrics``, the reconcile loop keeps the ledger gauges fresh."""
    gov = settings.governance
    key_secret = resolver.resolve(settings.key_hash_secret) or ""
    try:
        KeyHasher(key_secret)
    except ValueError as exc:
        raise GovernanceConfigError(
            "governance needs key_hash_secret (at least 16 bytes; a secret reference such as "
            "env:ALFRED_KEY_HASH_SECRET, or a literal): API keys are stored only as hashes under it"
        ) from exc
    costing = Costing(catalog, gov.ledger, gov.quota, group_for=group_for)
    ledger = Ledger.build(gov.ledger, key_secret=key_secret)
    jwt = None
    if gov.auth.jwt.enabled:
        from alfred.governance.jwt import JwtVerifier  # PyJWT and cryptography only when JWT is on

        jwt = JwtVerifier.from_settings(gov.auth.jwt, resolver.resolve)
    authenticator = Authenticator(
        gov.auth,
        ledger.keys,
        directory=ledger.directory,
        master_key=resolver.resolve(settings.master_key),
        jwt=jwt,
    )
    runtime = GovernanceRuntime(
        ledger=ledger,
        authenticator=authenticator,
        auth=AuthStage(authenticator),
        quota=QuotaStage(ledger.governance, ledger.wallets, costing, gov.quota),
        costing=costing,
    )
    if gov.migrate_on_start:

        async def migrate_ledger() -> None:
            await migrate(gov.ledger.database_url)

        runtime.startup.append(migrate_ledger)
    reconciler = Reconciler(ledger, gov.ledger.reconcile_interval_s, metrics=metrics)

    async def stop() -> None:
        await reconciler.stop()
        await ledger.close()

    runtime.startup.append(reconciler.start)
    runtime.shutdown.append(stop)
    return runtime
