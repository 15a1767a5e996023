"""Streaming client: one stream at a time, timing the first SSE event and the gaps between events.

``python -m bench.stream_client --url U --duration S [--header K:V] --body JSON`` prints one JSON
line. The upstream paces its chunks, so a proxy that buffers shows up as a late first event and
bunched gaps (near-zero gaps after a long one).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field

import aiohttp

from bench.stats import percentile


@dataclass
class StreamStats:
    """Timings of the streams read, in milliseconds."""

    ttfb_ms: list[float] = field(default_factory=list)
    gap_ms: list[float] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)
    chunks: list[int] = field(default_factory=list)
    errors: int = 0

    def summary(self) -> dict[str, float | int]:
        def q(values: list[float], p: float) -> float:
            return round(percentile(values, p), 3) if values else 0.0

        return {
            "streams": len(self.ttfb_ms),
            "errors": self.errors,
            "ttfb_p50_ms": q(self.ttfb_ms, 50),
            "ttfb_p99_ms": q(self.ttfb_ms, 99),
            "gap_p50_ms": q(self.gap_ms, 50),
            "gap_p99_ms": q(self.gap_ms, 99),
            "total_p50_ms": q(self.total_ms, 50),
            "chunks_p50": int(percentile([float(c) for c in self.chunks], 50)) if self.chunks else 0,
        }


async def read_stream(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], stats: StreamStats
) -> None:
    began = time.perf_counter()
    events: list[float] = []
    async with session.post(url, data=body, headers=headers) as resp:
        if resp.status != 200:
            await resp.read()
            stats.errors += 1
            return
        async for line in resp.content:
            if line.startswith(b"data:") and not line.startswith(b"data: [DONE]"):
                events.append(time.perf_counter())
    if not events:
        stats.errors += 1
        return
    stats.ttfb_ms.append((events[0] - began) * 1000)
    stats.gap_ms.extend((b - a) * 1000 for a, b in itertools.pairwise(events))
    stats.total_ms.append((events[-1] - began) * 1000)
    stats.chunks.append(len(events))


async def run(
    url: str, body: bytes, headers: dict[str, str], duration_s: float, max_streams: int
) -> StreamStats:
    stats = StreamStats()
    deadline = time.perf_counter() + duration_s
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await read_stream(session, url, body, headers, StreamStats())  # warm the connection, not counted
        while time.perf_counter() < deadline and len(stats.ttfb_ms) + stats.errors < max_streams:
            await read_stream(session, url, body, headers, stats)
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", required=True)
    parser.add_argument("--header", action="append", default=[], help="K:V, repeatable")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--max-streams", type=int, default=100_000)
    args = parser.parse_args()
    headers = {"Content-Type": "application/json"}
    headers.update(dict(h.split(":", 1) for h in args.header))
    stats = asyncio.run(run(args.url, args.body.encode(), headers, args.duration, args.max_streams))
    print(json.dumps(stats.summary()))


if __name__ == "__main__":
    main()
