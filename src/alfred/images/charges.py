"""``ImageCharges``: image jobs paid through the credit ledger — hold, then settle or release.

Before a job is queued, its worst case (the dearer of the model's primary and fallback per-image
prices, times ``n``) is reserved from the caller's wallet by the ledger's cascade; a caller who
cannot cover it gets 402 and no job. When the job succeeds, the route's real price (what the worker
recorded as the job's cost) is settled against that hold; when it fails or is cancelled, the hold is
released. Both are idempotent in the ledger, keyed by the hold's request id, so a job redelivered to
another worker is charged once. Only ledger users pay: an anonymous or master-key caller holds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from alfred.images.jobs import ImageJob, Route
from alfred.images.settings import ImageSettings
from alfred.ledger.money import usd_to_micros


@dataclass(frozen=True, slots=True)
class Payer:
    """The ledger user a request is charged to, and what the cascade needs to know about it."""

    user_id: int
    key_id: int | None = None
    priority: bool = False
    ip_address: str | None = None


class Reserver(Protocol):
    """Holds credits for a request on the wallet the cascade picks (``alfred.ledger.Governance``)."""

    async def reserve(
        self,
        user_id: int,
        request_id: str,
        amount: int,
        *,
        key_id: int | None = None,
        priority: bool = False,
        model: str | None = None,
        ip_address: str | None = None,
        ttl: timedelta | None = None,
    ) -> Any: ...


class Settler(Protocol):
    """Settles or releases a hold by request id (``alfred.ledger.Wallets``)."""

    async def settle(
        self, request_id: str, cost: int, *, model: str | None = None, provider: str | None = None
    ) -> Any: ...

    async def release(self, request_id: str) -> Any: ...


class ImageCharges:
    """Reserve before queueing, settle on success, release on failure (see the module docstring)."""

    def __init__(
        self,
        settings: ImageSettings,
        settler: Settler,
        reserver: Reserver | None = None,
        *,
        hold_ttl: timedelta = timedelta(hours=2),
    ) -> None:
        # A worker process only settles and releases; it needs no reserver.
        self._settings = settings
        self._settler = settler
        self._reserver = reserver
        # Longer than the ledger's default: a job may wait in a long queue before it runs.
        self._ttl = hold_ttl

    def worst_case(self, job: ImageJob) -> int:
        """Micro-credits to hold: the dearer route's per-image price for every image asked for."""
        model = self._settings.model(job.model)
        if model is None:
            raise ValueError(f"unknown image model {job.model!r}")
        price = max(model.prices.primary, model.prices.fallback)
        return usd_to_micros(price * job.spec.n)

    async def hold(self, payer: Payer, job: ImageJob) -> None:
        """Reserve the job's worst case; raises ``InsufficientQuotaError`` (402) when nothing can pay."""
        if self._reserver is None:
            raise RuntimeError("these image charges cannot reserve (built without a reserver)")
        request_id = f"u{payer.user_id}/{job.id}"  # job ids are unique, so a hold is never replayed
        await self._reserver.reserve(
            payer.user_id,
            request_id,
            self.worst_case(job),
            key_id=payer.key_id,
            priority=payer.priority,
            model=job.model,
            ip_address=payer.ip_address,
            ttl=self._ttl,
        )
        job.ledger_hold = request_id

    async def settle(self, job: ImageJob) -> None:
        """Charge a succeeded job what its route cost (the recorder's ``charge`` callback)."""
        if job.ledger_hold is None or job.route is Route.CACHE:
            return
        await self._settler.settle(
            job.ledger_hold, usd_to_micros(job.cost), model=job.model, provider=job.backend
        )

    async def release(self, job: ImageJob) -> None:
        """Free the hold of a job that failed or was cancelled (the recorder's ``release`` callback)."""
        if job.ledger_hold is not None:
            await self._settler.release(job.ledger_hold)
