"""The image pipeline on a virtual clock, built from the gateway's own parts.

What is real: the router (``QueueDepthRouter`` with its policy, EWMA of service time and spend
window), the queues (``MemoryJobQueue``: the depth the router sees is what the queue counts), the
result cache (``ResultCache``, with its LRU, TTL and hit counters) and the cache keys (the request
canonicalisation, in ``arrivals``). What is modelled: the backends, as slots that each run one job
at a time for a service time drawn from the hardware table (n images take n times as long), and
workers that take work the moment a slot is free, as ``ImageWorker`` does.

A request's time to image runs from its arrival to the end of its generation; a cache hit's is 0.
Workers heart-beat running jobs in the gateway, so the simulated queues never redeliver.

A month is a million handler calls, so the handlers skip what cannot change a figure: the cache is
not written once no request is left to read it, the depth is not recorded past the horizon (reports
stop there), and an idle pool is not asked for work while its queue is empty.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

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
_REQUEST_MEMO = 4096  # route requests kept for reuse; a queue that grows without bound makes new ones


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


_Done = tuple[_RoutePool, int, Delivery, int, float]
"""A job that ends: its pool, its slot, the queue's delivery, its arrival index, when it started."""


@dataclass(repr=False)
class ImageRun:
    """What one simulated policy did: each request's route and wait, and the primary queue over time."""

    horizon_s: float
    requests: int = 0
    served: array[int] = field(default_factory=lambda: array("l"))  # arrival index, in finishing order
    waits: array[float] = field(default_factory=lambda: array("d"))  # seconds to image (cache hits 0)
    routes: array[int] = field(default_factory=lambda: array("b"))  # CACHE | PRIMARY | FALLBACK
    depth_times: array[float] = field(default_factory=lambda: array("d"))  # primary depth, to the horizon
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
        run.depth_times.append(self.clock.now)
        run.depth_values.append(0)
        arrive, finish = self._handlers(run, arrivals, horizon_s)
        await run_events(self.clock, arrivals.times, self.events, arrive, finish, progress=progress)
        served = np.array(run.served, dtype=np.int64)
        routes = np.array(run.routes, dtype=np.int64)
        n = np.asarray(arrivals.n, dtype=np.int64)[served]
        per_route = np.bincount(routes, weights=n, minlength=len(ROUTE_NAMES))
        images = {name: int(per_route[code]) for code, name in enumerate(ROUTE_NAMES)}
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

    def _handlers(
        self, run: ImageRun, arrivals: ImageArrivals, horizon_s: float
    ) -> tuple[Callable[[int], Awaitable[None]], Callable[[_Done], Awaitable[None]]]:
        """The arrival and job-end handlers of one run.

        They run once per request and once per job, about a million times in a month, so they are
        closures over local names (Python's cheapest look-ups) rather than methods reading ``self``.
        Every decision still goes through the real cache, queue and router; only bookkeeping is local.
        """
        clock, router, cache = self.clock, self.router, self.cache
        primary, fallback = self.primary, self.fallback
        decide, observe = router.decide, router.observe_service_time
        push = self.events.push
        times, ns, keys = arrivals.times, arrivals.n, arrivals.keys
        tenant, deadline = arrivals.tenant, arrivals.wait_s
        primary_slots = self.primary_slots
        fallback_cost = {n: self.model.prices.fallback * n for n in set(ns)}
        # the router reads its spend window only under a cap; without one, feeding it changes nothing
        track_spend = router.spend_cap_per_hour is not None
        served, waits, routes = run.served.append, run.waits.append, run.routes.append
        depth_at, depth_of = run.depth_times.append, run.depth_values.append
        # after the last arrival nobody looks the cache up again, and the report reads the queue
        # depth only up to the horizon: a backlog that drains for weeks skips both
        last_lookup = times[-1] if times else -1.0
        images = self._images
        model_name = self.model.name
        # equal inputs make equal (frozen) requests: build each once while the queue is short
        asked: dict[tuple[int, int, int], RouteRequest] = {}
        no_queue = QueueDepth(0, 0)

        async def start(pool: _RoutePool) -> None:
            now = clock.now
            for delivery in await pool.queue.receive("simulate", pool.free, 0.0):
                slot = pool.take()
                index = int(delivery.message.job_id)
                seconds = pool.slots[slot].sample(pool.rng) * ns[index]
                push(now + seconds, (pool, slot, delivery, index, now))

        async def arrive(index: int) -> None:
            if cache is not None and await cache.get(keys[index]) is not None:
                served(index)
                waits(0.0)
                routes(CACHE)
                return
            n = ns[index]
            depth = await primary.queue.depth() if primary is not None else no_queue
            shape = (depth.waiting, depth.in_flight, n)
            request = asked.get(shape)
            if request is None:
                request = RouteRequest(
                    depth=depth,
                    primary_slots=primary_slots,
                    deadline_s=deadline,
                    fallback_cost=fallback_cost[n],
                    has_primary=primary is not None,
                    has_fallback=fallback is not None,
                )
                if len(asked) < _REQUEST_MEMO:
                    asked[shape] = request
            pool = primary if decide(request).route is Route.PRIMARY else fallback
            assert pool is not None  # the router only picks a route the model has
            await pool.queue.enqueue(QueueMessage(job_id=str(index), tenant=tenant))
            if pool is primary:  # the queue now holds one more than the router saw
                depth_at(clock.now)
                depth_of(depth.waiting + depth.in_flight + 1)
            if pool.free > 0:
                await start(pool)

        async def finish(done: _Done) -> None:
            pool, slot, delivery, index, started = done
            now = clock.now
            await pool.queue.ack(delivery)
            pool.release(slot)
            n = ns[index]
            # past the horizon the depth is not reported, and a draining backlog is never empty
            depth = await pool.queue.depth() if now <= horizon_s else None
            if pool is primary:
                observe(now - started)
                if depth is not None:
                    depth_at(now)
                    depth_of(depth.waiting + depth.in_flight)
            elif track_spend and pool.price:
                router.record_fallback_spend(pool.price * n)
            served(index)
            waits(now - times[index])
            routes(pool.code)
            if cache is not None and now <= last_lookup:
                result = CachedResult(
                    images=images,
                    cost_usd=pool.cost_text(n),
                    model=model_name,
                    job_id=delivery.message.job_id,
                )
                await cache.put(keys[index], result)
            if depth is None or depth.waiting:  # a slot is free now: the next job in line starts on it
                await start(pool)

        return arrive, finish
