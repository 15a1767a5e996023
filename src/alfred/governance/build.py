"""Wires governance for the composition root: the ledger, who is calling (auth), who pays (quota), and
the background work they need (migrations at start, expiring reservations that outlived their request).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from alfred.config import Settings
from alfred.governance.authenticator import Authenticator
from alfred.governance.costing import Costing, GroupChooser
from alfred.governance.key_limits import key_limits_from
from alfred.ledger import Ledger
from alfred.ledger.keys import KeyHasher
from alfred.pipeline.auth import AuthStage
from alfred.pipeline.quota import QuotaStage
from alfred.pipeline.rate_limit import KeyLimits
from alfred.routing.catalog import ModelCatalog
from alfred.secrets import SecretResolver
from alfred.state.db import migrate

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
    reservations of requests whose process was killed, or that hung."""

    def __init__(self, ledger: Ledger, interval_s: float) -> None:
        self._ledger = ledger
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> int:
        expired = await self._ledger.wallets.reconcile_expired()
        if expired:
            log.warning("expired %d reservation(s) that outlived their request", len(expired))
        return len(expired)

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
) -> GovernanceRuntime:
    """Build governance from settings (``settings.governance.enabled`` is the caller's test)."""
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
    reconciler = Reconciler(ledger, gov.ledger.reconcile_interval_s)

    async def stop() -> None:
        await reconciler.stop()
        await ledger.close()

    runtime.startup.append(reconciler.start)
    runtime.shutdown.append(stop)
    return runtime
