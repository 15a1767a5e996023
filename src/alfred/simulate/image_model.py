"""The image pipeline on a virtual clock, built from the gateway's own parts.

What is real: the router (``QueueDepthRouter`` with its policy, EWMA of service time and spend
window), the queues (``MemoryJobQueue``: the depth the router sees is what the queue counts), the
result cache (``ResultCache``, with its LRU, TTL and hit counters) and the cache keys (the request
canonicalisation, in ``arrivals``). What is modelled: the backends, as slots that each run one job
at a time for a service time drawn from the hardware table (n images take n times as long), and
workers that take work the moment a slot is free, as ``ImageWorker`` does.

A request's time to image runs from its arrival to the end of its generation; a cache hit's is 0.
Workers heart-beat running jobs in the gateway, so the simulated queues never redeliver.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from alfred.images.jobs import JobImage, Route
from alfred.images.queue import Delivery, QueueDepth, QueueMessage
from alfred.images.queue_memory import MemoryJobQueue
from alfred.images.result_cache import CachedResult, ResultCache
from alfred.images.router import QueueDepthRouter, RouteRequest
from alfred.images.settings import ImageModelSettings, ImageSettings
from alfred.simulate.arrivals import ImageArrivals
from alfred.simulate.distributions import Sampler
from alfred.simulate.engine import EventQueue, VirtualClock, run_events
from alfred.simulate.hardware import HardwareTable
from alfred.state.base import KeyValueStore

_NEVER = 1e15  # visibility timeout: live workers heart-beat, so nothing is redelivered
CACHE, PRIMARY, FALLBACK = 0, 1, 2  # route codes in ``ImageRun.routes``
ROUTE_NAMES = ("cache", "primary", "fallback")


@dataclass(slots=True)
class _Slot:
    backend: str
    sample: Sampler
    busy: bool = False


class _RoutePool:
    """One route's queue and the backend slots its worker runs jobs on (first free slot first)."""

    def __init__(
        self,
        code: int,
        queue: MemoryJobQueue,
        slots: list[_Slot],
        price: Decimal,
        hourly: Decimal,
        rng: random.Random,
    ) -> None:
        self.code = code
        self.queue = queue
        self.slots = slots
        self.price = price
        self.hourly_cost = hourly  # all slots together, per hour
        self.rng = rng
        self.free = len(slots)
        self._cost_text: dict[int, str] = {}

    def take(self) -> int:
        for index, slot in enumerate(self.slots):
            if not slot.busy:
                slot.busy = True
                self.free -= 1
                return index
        raise RuntimeError("no free slot")  # callers take only while free > 0

    def cost_text(self, n: int) -> str:
        """What n images cost on this route, as the job record writes it."""
        text = self._cost_text.get(n)
        if text is None:
            text = self._cost_text[n] = str(self.price * n)
        return text

    def release(self, index: int) -> None:
        self.slots[index].busy = False
        self.free += 1


@dataclass(slots=True)
class _Done:
    pool: _RoutePool
    slot: int
    delivery: Delivery
    arrival: int
    started: float


@dataclass(repr=False)
class ImageRun:
    """What one simulated policy did: each request's route and wait, and the primary queue over time."""

    horizon_s: float
    requests: int = 0
    served: array[int] = field(default_factory=lambda: array("l"))  # arrival index, in finishing order
    waits: array[float] = field(default_factory=lambda: array("d"))  # seconds to image (cache hits 0)
    routes: array[int] = field(default_factory=lambda: array("b"))  # CACHE | PRIMARY | FALLBACK
    depth_times: array[float] = field(default_factory=lambda: array("d"))  # primary queue depth changes
    depth_values: array[int] = field(default_factory=lambda: array("l"))
    images: dict[str, int] = field(default_factory=dict)  # route name → images delivered
    spend: dict[str, Decimal] = field(default_factory=dict)  # per-image prices, by route
    hardware_cost: Decimal = Decimal(0)  # slot-hours of the pools over the horizon
    decisions: dict[str, int] = field(default_factory=dict)  # the router's own counts, "route:code"
    cache_hit_rate: float = 0.0  # the result cache's own statistics
    cache_saved: Decimal = Decimal(0)
    mean_service_time_s: float = 0.0  # the router's EWMA at the end
    primary_slots: int = 0


class ImagePipelineSimulation:
    """One policy's run of one model's traffic through the real router, queues and cache."""

    def __init__(
        self,
        settings: ImageSettings,
        model: ImageModelSettings,
        router: QueueDepthRouter,
        clock: VirtualClock,
        hardware: HardwareTable,
        *,
        seed: int = 0,
        l2: KeyValueStore | None = None,
    ) -> None:
        self.settings = settings
        self.model = model
        self.router = router
        self.clock = clock
        self.cache = (
            ResultCache(l2, ttl_s=settings.cache.ttl_s, l1_size=settings.cache.l1_size, clock=clock)
            if settings.cache.enabled
            else None
        )
        self.primary = self._pool(PRIMARY, model.primary, model.prices.primary, hardware, seed)
        self.fallback = self._pool(FALLBACK, model.fallback, model.prices.fallback, hardware, seed + 1)
        self.primary_slots = len(self.primary.slots) if self.primary else 0
        self.events: EventQueue[_Done] = EventQueue()
        self._images = [JobImage(key="images/simulated.png", url="")]  # blobs play no part in routing

    def _pool(
        self, code: int, names: list[str], price: Decimal, hardware: HardwareTable, seed: int
    ) -> _RoutePool | None:
        if not names:
            return None
        slots: list[_Slot] = []
        hourly = Decimal(0)
        for name in names:
            backend = self.settings.backends[name]
            upstream = backend.model or self.model.name
            distribution = hardware.service_time(
                name, backend.kind, upstream, self.model.size, self.model.steps
            )
            slots.extend(_Slot(name, distribution.sampler()) for _ in range(backend.slots))
            hourly += hardware.hourly_cost(name, backend.kind) * backend.slots
        route = ROUTE_NAMES[code]
        queue = MemoryJobQueue(f"{self.model.name}.{route}", visibility_timeout_s=_NEVER, clock=self.clock)
        rng = random.Random(seed)  # noqa: S311  # nosec B311 - reproducible service times, not security
        return _RoutePool(code, queue, slots, price, hourly, rng)

    async def run(
        self, arrivals: ImageArrivals, horizon_s: float, progress: Callable[[int], None] | None = None
    ) -> ImageRun:
        run = ImageRun(horizon_s=horizon_s, requests=len(arrivals), primary_slots=self.primary_slots)
        self._run = run
        self._arrivals = arrivals
        self._times = arrivals.times
        self._n = arrivals.n
        self._keys = arrivals.keys
        self._deadline = arrivals.wait_s
        self._fallback_cost = {n: self.model.prices.fallback * n for n in set(arrivals.n)}
        # the router reads its spend window only under a cap; without one, feeding it changes nothing
        self._track_spend = self.router.spend_cap_per_hour is not None
        self._record_depth(QueueDepth(0, 0))
        await run_events(
            self.clock, arrivals.times, self.events, self._arrive, self._finish, progress=progress
        )
        images = {name: 0 for name in ROUTE_NAMES}
        for index, route in zip(run.served, run.routes, strict=True):
            images[ROUTE_NAMES[route]] += self._n[index]
        run.images = images
        run.spend = {
            "primary": self.model.prices.primary * images["primary"],
            "fallback": self.model.prices.fallback * images["fallback"],
        }
        hours = Decimal(repr(horizon_s / 3600.0))
        for pool in (self.primary, self.fallback):
            if pool is not None:
                run.hardware_cost += pool.hourly_cost * hours
        run.decisions = {f"{route}:{code}": n for (route, code), n in self.router.decisions.items()}
        if self.cache is not None:
            run.cache_hit_rate = self.cache.stats.hit_rate
            run.cache_saved = self.cache.stats.cost_saved
        run.mean_service_time_s = self.router.mean_service_time_s
        return run

    def _record_depth(self, depth: QueueDepth) -> None:
        self._run.depth_times.append(self.clock.now)
        self._run.depth_values.append(depth.waiting + depth.in_flight)

    def _served(self, index: int, wait: float, route: int) -> None:
        run = self._run
        run.served.append(index)
        run.waits.append(wait)
        run.routes.append(route)

    async def _arrive(self, index: int) -> None:
        cache = self.cache
        if cache is not None and await cache.get(self._keys[index]) is not None:
            run = self._run
            run.served.append(index)
            run.waits.append(0.0)
            run.routes.append(CACHE)
            return
        primary, fallback = self.primary, self.fallback
        depth = await primary.queue.depth() if primary is not None else QueueDepth(0, 0)
        decision = self.router.decide(
            RouteRequest(
                depth=depth,
                primary_slots=self.primary_slots,
                deadline_s=self._deadline,
                fallback_cost=self._fallback_cost[self._n[index]],
                has_primary=primary is not None,
                has_fallback=fallback is not None,
            )
        )
        pool = primary if decision.route is Route.PRIMARY else fallback
        assert pool is not None  # the router only picks a route the model has
        await pool.queue.enqueue(QueueMessage(job_id=str(index), tenant=self._arrivals.tenant))
        if pool is primary:
            self._record_depth(await pool.queue.depth())
        await self._start(pool)

    async def _start(self, pool: _RoutePool) -> None:
        if pool.free <= 0:
            return
        now = self.clock.now
        for delivery in await pool.queue.receive("simulate", pool.free, 0.0):
            slot = pool.take()
            index = int(delivery.message.job_id)
            seconds = pool.slots[slot].sample(pool.rng) * self._n[index]
            self.events.push(now + seconds, _Done(pool, slot, delivery, index, now))

    async def _finish(self, done: _Done) -> None:
        pool, now, index = done.pool, self.clock.now, done.arrival
        await pool.queue.ack(done.delivery)
        pool.release(done.slot)
        n = self._n[index]
        if pool is self.primary:
            self.router.observe_service_time(now - done.started)
            self._record_depth(await pool.queue.depth())
        elif self._track_spend and pool.price:
            self.router.record_fallback_spend(pool.price * n)
        self._served(index, now - self._times[index], pool.code)
        if self.cache is not None:
            result = CachedResult(
                images=self._images, cost_usd=pool.cost_text(n), model=self.model.name, job_id=str(index)
            )
            await self.cache.put(self._keys[index], result)
        await self._start(pool)
