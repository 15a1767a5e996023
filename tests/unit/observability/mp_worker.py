"""A stand-in gateway worker for the multiprocess tests: records traffic with metrics in shared files.

``python -m tests.unit.observability.mp_worker MODE N`` with PROMETHEUS_MULTIPROC_DIR set records N
requests (and leaves one in flight), then: ``serve`` keeps running until a line arrives on stdin,
then shuts down cleanly; ``exit`` closes cleanly at once; ``crash`` dies without closing; ``scrape``
prints the merged exposition of the directory instead.
"""

from __future__ import annotations

import asyncio
import os
import sys

from alfred.observability.metrics import GatewayMetrics

GROUPS = ["gpt", "claude"]
DEPLOYMENTS = [("gpt", "openai", "gpt-4o-mini"), ("claude", "anthropic", "claude-3-5-haiku")]


def traffic(metrics: GatewayMetrics, n: int) -> None:
    for i in range(n):
        group, provider, model = DEPLOYMENTS[i % 2]
        metrics.request(
            ("chat", group, provider, model, 200 if i % 4 else 502, None, "team-a"),
            total_s=0.1,
            overhead_s=0.001,
            upstream_s=0.099,
            ttft_s=None,
            tokens_in=3,
            tokens_out=4,
            cost_usd=0.5,
        )
    metrics.in_flight("chat").inc()  # one request still in this worker
    metrics.breaker_transition("gpt/openai/gpt-4o-mini", "closed", "open")


async def serve(n: int) -> None:
    metrics = GatewayMetrics(groups=GROUPS, deployments=DEPLOYMENTS)
    traffic(metrics, n)  # flushed by the tally's timer, on this running loop
    print("ready", os.getpid(), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await metrics.aclose()


def main() -> None:
    mode, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0
    if mode == "serve":
        asyncio.run(serve(n))
        return
    metrics = GatewayMetrics(groups=GROUPS, deployments=DEPLOYMENTS)
    if mode == "scrape":
        sys.stdout.write(metrics.render()[0].decode())
        return
    traffic(metrics, n)
    if mode == "crash":
        metrics.tally.flush()  # what the timer would have written before the crash
        sys.stdout.flush()
        os._exit(1)
    metrics.close()


if __name__ == "__main__":
    main()
