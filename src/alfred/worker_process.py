"""``alfred worker``: a process that only consumes the primary image queue (no HTTP server).

It builds the same image runtime as the gateway with ``run_workers=True`` and runs until SIGTERM or
SIGINT, then stops its workers gracefully (in-flight jobs are finished or left for reclaim).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING

from alfred.composition.images import build_images
from alfred.config import Settings
from alfred.providers.transport import HttpTransport
from alfred.state import build_backend
from alfred.vault import secret_resolver

if TYPE_CHECKING:
    from alfred.ledger.service import Ledger
    from alfred.observability.metrics import GatewayMetrics
    from alfred.secrets import SecretResolver

log = logging.getLogger("alfred.worker")


async def run_worker(settings: Settings) -> None:
    if not settings.images.models:
        raise ValueError("the config defines no image models (images.models): nothing to work on")
    resolver = secret_resolver(settings.vault)
    state = build_backend(settings.state, password=resolver.resolve(settings.state.redis.password))
    transport = HttpTransport()
    await transport.start()
    ledger = _ledger(settings, resolver) if settings.governance.enabled else None
    metrics = _metrics(settings)
    parts = build_images(
        settings.images,
        settings.storage,
        state=state,
        transport=transport,
        resolver=resolver,
        max_body_bytes=settings.server.max_body_bytes,
        run_workers=True,
        # Jobs this process finishes settle (or release) the holds the gateway took for them.
        settler=ledger.wallets if ledger is not None and settings.governance.quota.enabled else None,
        metrics=metrics,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = None
    if metrics is not None and settings.images.workers.metrics_port is not None:
        from alfred.observability.serve import MetricsServer

        server = MetricsServer(
            metrics,
            settings.server.host,
            settings.images.workers.metrics_port,
            settings.observability.metrics.path,
        )
        await server.start()
    await parts.runtime.start()
    log.info("image worker running", extra={"alfred": {"workers": len(parts.runtime.workers)}})
    try:
        await stop.wait()
    finally:
        await parts.runtime.stop()
        if server is not None:
            await server.stop()
        await transport.close()
        await state.close()
        if ledger is not None:
            await ledger.close()
        if metrics is not None:
            metrics.close()


def _ledger(settings: Settings, resolver: SecretResolver) -> Ledger:
    from alfred.ledger.service import Ledger

    secret = resolver.resolve(settings.key_hash_secret) or ""
    return Ledger.build(settings.governance.ledger, key_secret=secret)


def _metrics(settings: Settings) -> GatewayMetrics | None:
    """Jobs this process finishes, and its queues' depth, are counted here: served on
    ``images.workers.metrics_port`` when set, and merged into a gateway's ``/metrics`` when the two
    share prometheus_client's multiprocess directory (``PROMETHEUS_MULTIPROC_DIR``)."""
    if not settings.observability.metrics.enabled:
        return None
    from alfred.observability.metrics import GatewayMetrics

    return GatewayMetrics(settings.observability.metrics)
