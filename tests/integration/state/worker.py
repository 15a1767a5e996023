"""One "gateway process" for the cross-process tests: waits at a barrier, then races the others.

    python worker.py --mode limiter --url URL --prefix P --name KEY --capacity 60 --period 60 --attempts 120 [--now T]
    python worker.py --mode probe   --url URL --prefix P --name DEPLOYMENT --attempts 25

Prints how many attempts won: requests admitted, or half-open probe permits granted.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable

from redis.asyncio import BlockingConnectionPool, Redis

from alfred.routing.breaker import CircuitBreaker
from alfred.state.base import BreakerPolicy, Charge, Limit
from alfred.state.redis import RedisBreakerStore, RedisRateLimiter


async def race(args: argparse.Namespace) -> int:
    client = Redis.from_pool(
        BlockingConnectionPool.from_url(args.url, max_connections=32, socket_timeout=180)
    )
    try:
        attempt: Callable[[], Awaitable[bool]]
        if args.mode == "limiter":
            frozen = args.now
            limiter = RedisRateLimiter(client, args.prefix, None if frozen is None else lambda: frozen)
            limit = Limit(args.capacity, args.period)
            await limiter.acquire([Charge("warm-up", limit, 0)])  # loads the script before the race

            async def attempt() -> bool:
                return (await limiter.acquire([Charge(args.name, limit, 1)]))[0].allowed

        else:
            policy = BreakerPolicy(failure_threshold=1, cooldown_s=0.0)
            breaker = CircuitBreaker(RedisBreakerStore(client, args.prefix), policy)
            await breaker.state("warm-up")

            async def attempt() -> bool:
                permit = await breaker.allow(args.name)
                return permit is not None and permit.probe

        await client.rpush(args.prefix + "barrier:ready", "1")
        await client.blpop([args.prefix + "barrier:go"], timeout=120)
        won = await asyncio.gather(*(attempt() for _ in range(args.attempts)))
        return sum(won)
    finally:
        await client.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["limiter", "probe"], required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--capacity", type=int, default=60)
    parser.add_argument("--period", type=float, default=60.0)
    parser.add_argument("--attempts", type=int, required=True)
    parser.add_argument(
        "--now", type=float, default=None, help="a clock frozen at this time (default: Redis TIME)"
    )
    print(asyncio.run(race(parser.parse_args())))
