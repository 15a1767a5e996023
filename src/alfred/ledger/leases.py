"""Credit leases: a process reserves requests from a block of a personal wallet's credit held in memory.

Per request the per-request path commits twice (the hold before the upstream call, the settle after).
With leases on, the process first holds a *block* of the wallet's credit as one reservation row, the
lease (``alfred.ledger.lease_sql``), through the same conditional wallet UPDATE as any hold, so holds
and leases together never exceed what the wallet can spend, across processes. Then:

- reserve takes the request's hold from the lease's free credit in memory (one event loop, no await
  between the check and the take). Only requests whose id the gateway made are held on leases: an id a
  client sent (a retry, perhaps, through another process at the same moment) takes the per-request
  hold, whose unique index is what keeps such a retry from being served twice. A key with its own
  budget, the team-pool and vacation cascade, a wallet near its soft or hard limit, and everything
  unusual go to the per-request path too (``hold`` returns None). A lease that
  runs short grows by another block; when the wallet cannot give one, the lease's free credit goes back
  and the request takes the exact per-request hold, so refusals at the hard limit stay exact;
- settle is one transaction (``lease_sql.settle``): the lease shrinks by the cost, the wallet pays it
  and the charge is written (its transaction's unique request id is the request's only row: a client
  that later sends that id finds it, ``hotpath.CHARGED``); what the hold did not use returns to the
  lease in memory;
- release is memory only.

A keeper task renews each lease in use every ``ttl_s / 3`` and returns a lease left idle that long, or
whose wallet was frozen or user suspended since (then the auth stage refuses such a user within its
cache's second anyway; a frozen wallet's lease serves for at most ``ttl_s / 3`` more). If
the process dies, its in-memory holds die with it; the lease row expires and reconciliation frees what
it still held. Every charge a client was told about was committed by its settle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.util import greenlet_spawn

from alfred.ledger import lease_sql
from alfred.ledger.charging import Charge
from alfred.ledger.hotpath import SettleRequest
from alfred.ledger.money import credits_to_micros
from alfred.ledger.settings import LeaseSettings
from alfred.ledger.trips import Fallback, Query, Trips
from alfred.state.db import Database

log = logging.getLogger("alfred.ledger.leases")
Clock = Callable[[], datetime]


@dataclass(slots=True, eq=False)
class Lease:
    """One lease row and its in-memory split: ``amount`` (as the row holds it) = free + held + settling."""

    request_id: str
    wallet_id: int
    amount: int
    expires_at: datetime
    used_at: float  # monotonic
    free: int = 0
    held: int = 0
    settling: int = 0
    ended: bool = False


@dataclass(frozen=True, slots=True)
class LeaseHold:
    """A request's hold on a lease (memory only until it settles)."""

    request_id: str
    lease: Lease
    user_id: int
    amount: int
    key_id: int | None


@dataclass(frozen=True, slots=True)
class Taken:
    """What ``LeaseBook.hold`` returns: the request's new hold, or the one this process already has
    for its request id (``replayed``)."""

    hold: LeaseHold
    replayed: bool = False


@dataclass
class LeaseBook:
    """The leases of this process and the requests held on them; see the module docstring."""

    db: Database
    trips: Trips
    settings: LeaseSettings
    clock: Clock
    monotonic: Callable[[], float] = time.monotonic
    process: str = field(
        default_factory=lambda: f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    )
    holds: dict[str, LeaseHold] = field(default_factory=dict, init=False)
    leases: dict[int, Lease] = field(default_factory=dict, init=False)  # by user id
    _locks: dict[int, asyncio.Lock] = field(default_factory=dict, init=False)
    # user id → no leasing until then (monotonic): its wallet could not give a block
    _starved: dict[int, float] = field(default_factory=dict, init=False)
    _budgets: dict[int, bool] = field(default_factory=dict, init=False)  # key id → has a budget of its own
    _serial: int = field(default=0, init=False)
    _keeper: asyncio.Task[None] | None = field(default=None, init=False)

    @property
    def block(self) -> int:
        return credits_to_micros(self.settings.block_credits)

    @property
    def ttl(self) -> timedelta:
        return timedelta(seconds=self.settings.ttl_s)

    async def hold(self, user_id: int, request_id: str, amount: int, key_id: int | None) -> Taken | None:
        """Hold ``amount`` for ``request_id`` on the user's lease; None sends the caller down the
        per-request path.

        Only for request ids made for this request (the caller's to vouch for): an id a client sent
        may arrive at two processes at once, and only the per-request hold's unique index stops both
        from being served."""
        if request_id in self.holds:
            return Taken(self.holds[request_id], replayed=True)
        if self._starved.get(user_id, 0.0) > self.monotonic():
            return None
        if key_id is not None and await self._has_budget(key_id):
            return None
        lease = self._usable(user_id, amount)
        if lease is None:
            lease = await self._grow(user_id, amount)
            if lease is None:
                return None
        if request_id in self.holds:  # the same request id raced us through the await above
            return Taken(self.holds[request_id], replayed=True)
        if lease.free < amount:  # cannot happen (no await since it was found or grown); stay exact
            return None
        lease.free -= amount
        lease.held += amount
        lease.used_at = self.monotonic()
        hold = LeaseHold(request_id, lease, user_id, amount, key_id)
        self.holds[request_id] = hold
        return Taken(hold)

    def release(self, request_id: str) -> LeaseHold | None:
        """Give a request's hold back to its lease (memory only); None if it holds on no lease."""
        hold = self.holds.pop(request_id, None)
        if hold is not None:
            hold.lease.held -= hold.amount
            hold.lease.free += hold.amount
        return hold

    async def settle(self, hold: LeaseHold, request: SettleRequest) -> Charge:
        """Charge a leased request in one transaction; raises ``IntegrityError`` (the hold is given back)
        when this request id was already charged elsewhere."""
        lease = hold.lease
        del self.holds[hold.request_id]
        extra = min(lease.free, max(0, request.cost - hold.amount)) if not lease.ended else 0
        part = min(request.cost, hold.amount + extra)
        lease.free -= extra
        lease.held -= hold.amount
        lease.settling += hold.amount + extra
        s = lease_sql.LeasedSettle(
            request, lease.request_id, lease.wallet_id, hold.user_id, hold.key_id, part
        )
        try:
            charge, live = await self.trips.run(lambda: lease_sql.settle(self.trips, s))
        except IntegrityError:  # rolled back: charged before, elsewhere; the credit is the lease's again
            lease.settling -= hold.amount + extra
            lease.free += hold.amount + extra
            raise
        except BaseException:
            # Cancelled or failed, perhaps after the commit: forget this credit rather than risk
            # lending it twice. The row still holds it, and returning the lease frees it.
            lease.settling -= hold.amount + extra
            raise
        lease.settling -= hold.amount + extra
        if live:
            lease.amount -= part
            lease.free += hold.amount + extra - part
        else:
            self._end(lease)
        lease.used_at = self.monotonic()
        return charge

    def _usable(self, user_id: int, amount: int) -> Lease | None:
        lease = self.leases.get(user_id)
        if lease is None or lease.ended or lease.free < amount:
            return None
        if lease.expires_at - self.clock() < self.ttl / 3:
            return None  # the keeper is late renewing it: grow it, which renews it too
        return lease

    async def _grow(self, user_id: int, amount: int) -> Lease | None:
        lock = self._locks.setdefault(user_id, asyncio.Lock())
        async with lock:
            lease = self._usable(user_id, amount)
            if lease is not None:  # another request grew it while we waited
                return lease
            lease = self.leases.get(user_id)
            if lease is not None and lease.ended:
                lease = None
            block = max(self.block, amount)
            now = self.clock()
            expires_at = now + self.ttl
            self._serial += 1
            make_id = f"lease:{self.process}:{self._serial}:"
            lease_id = lease.request_id if lease is not None else None
            try:
                taken = await self.trips.run(
                    lambda: lease_sql.take(user_id, block, lease_id, make_id, now, expires_at)
                )
            except Fallback:  # the lease ended (reconciled) under us
                assert lease is not None
                self._end(lease)
                return None
            except lease_sql.NoCredit:
                # The wallet cannot give a block: give back what this lease has free, and let requests
                # take exact per-request holds for a while.
                self._starved[user_id] = self.monotonic() + self.settings.ttl_s / 3
                if lease is not None and lease.free:
                    await self._shrink(lease, lease.free)
                return None
            wallet_id, request_id = taken
            if lease is None:
                lease = Lease(request_id, wallet_id, 0, expires_at, self.monotonic())
                self.leases[user_id] = lease
                self._start_keeper()
            lease.amount += block
            lease.free += block
            lease.expires_at = expires_at
            return lease

    async def _shrink(self, lease: Lease, amount: int) -> None:
        lease.free -= amount
        lease.amount -= amount
        try:
            live = await self.trips.run(lambda: lease_sql.shrink(lease.request_id, lease.wallet_id, amount))
        except Exception:
            log.exception("giving back %d of lease %s failed; it expires in time", amount, lease.request_id)
            self._end(lease)
            return
        if not live:
            self._end(lease)

    def _end(self, lease: Lease) -> None:
        """A lease that is no longer open: nothing more is taken from it (its holds still settle)."""
        lease.ended = True
        lease.free = 0
        for user_id, known in list(self.leases.items()):
            if known is lease:
                del self.leases[user_id]

    def _start_keeper(self) -> None:
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.create_task(self._keep(), name="alfred-ledger-leases")

    async def _keep(self) -> None:
        while self.leases:
            await asyncio.sleep(self.settings.ttl_s / 3)
            try:
                await self.tend()
            except Exception:
                log.exception("tending leases failed; trying again next round")

    async def tend(self) -> None:
        """Return each lease idle for ``ttl_s / 3`` and renew the others."""
        now = self.monotonic()
        idle_before = now - self.settings.ttl_s / 3
        for user_id in [u for u, until in self._starved.items() if until <= now]:
            del self._starved[user_id]
        for lease in list(self.leases.values()):
            if lease.held == 0 and lease.settling == 0 and lease.used_at <= idle_before:
                await self._give_back(lease)
                continue
            if not await self._renew(lease):
                # Ended elsewhere (reconciled), or its wallet may no longer lend: return what it holds
                # (nothing, if it had ended); holds still out settle from the balance.
                await self._give_back(lease)

    async def _renew(self, lease: Lease) -> bool:
        expires_at = self.clock() + self.ttl
        if not await self.trips.run(lambda: lease_sql.renew(lease.request_id, expires_at)):
            return False
        lease.expires_at = expires_at
        return True

    async def _give_back(self, lease: Lease) -> None:
        for user_id, known in self.leases.items():
            lock = self._locks.get(user_id)
            if known is lease and lock is not None and not lock.locked():
                del self._locks[user_id]
        self._end(lease)  # first: nothing may be taken from it across the await
        await self.trips.run(lambda: lease_sql.give_back(lease.request_id, self.clock()))

    async def close(self) -> None:
        """Stop the keeper and return every lease (holds still in flight settle from the balance)."""
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None
        for lease in list(self.leases.values()):
            try:
                await self._give_back(lease)
            except Exception:
                log.exception("returning lease %s failed; it expires in time", lease.request_id)

    async def _has_budget(self, key_id: int) -> bool:
        # A key's budget is fixed when it is created, so one look per key and process is enough.
        known = self._budgets.get(key_id)
        if known is None:
            exists, budget = await self._read(lease_sql.KEY_BUDGET, key_id=key_id)
            known = not exists or budget is not None
            self._budgets[key_id] = known
        return known

    async def _read(self, query: Query, **params: Any) -> tuple[bool, Any]:
        """One row's first column, read outside any write transaction: on SQLite a reader connection
        (WAL: it sees every commit), on PostgreSQL the primary (a replica could lag)."""
        if self.db.dialect == "sqlite":
            raw = await self.db.reader.raw_connection()
            try:
                driver = raw.driver_connection
                assert driver is not None
                row = await driver._execute(_fetchone, driver._conn, query.sqlite, params)
            finally:
                await greenlet_spawn(raw.close)
        else:
            raw = await self.db.writer.raw_connection()
            try:
                driver = raw.driver_connection
                assert driver is not None
                row = await driver.fetchrow(query.postgresql, *(params[k] for k in query.names))
            finally:
                await greenlet_spawn(raw.close)
        return (row is not None, row[0] if row is not None else None)


def _fetchone(conn: Any, sql: str, params: dict[str, Any]) -> Any:
    return conn.execute(sql, params).fetchone()
