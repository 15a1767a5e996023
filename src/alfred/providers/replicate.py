"""An ``ImageBackend`` over Replicate's HTTP API: the paid fallback of the image pipeline.

One generation is one prediction: created with ``Prefer: wait`` (most finish inside the held
request) and a ``Cancel-After`` deadline that bounds what one prediction can cost, then polled
until it ends. Outputs are downloaded at once, because Replicate deletes them after about an hour
and a client must never be handed a Replicate URL. 429s are retried after ``Retry-After`` (or an
exponential backoff) within the generation's deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import msgspec

from alfred.errors import AlfredError, RateLimitError, UpstreamError, UpstreamTimeoutError
from alfred.images.backend import ProgressCallback
from alfred.providers import replicate_wire as wire
from alfred.providers.base import UpstreamRequest
from alfred.providers.image_download import DEFAULT_MAX_IMAGE_BYTES, ImageDownloader
from alfred.providers.transport import HttpTransport, Timeouts, UpstreamResponse
from alfred.schema.images import GeneratedImage, GenerationSpec

_encoder = msgspec.json.Encoder()
DEFAULT_PRICE_PER_IMAGE = Decimal("0.0023")


@dataclass(frozen=True, slots=True)
class ReplicateOptions:
    """How to reach Replicate and how long and how much one prediction may take."""

    api_token: str
    base_url: str = "https://api.replicate.com/v1"
    wait_s: int = 60  # Prefer: wait=N (1..60); 0 = return at once and only poll
    cancel_after_s: int | None = 300  # Cancel-After: Replicate stops the prediction past this
    timeout_s: float = 600.0  # our own deadline for the whole generation, downloads included
    poll_interval_s: float = 0.5  # first poll gap; grows 1.5x up to poll_interval_max_s
    poll_interval_max_s: float = 3.0
    rate_limit_retries: int = 5  # 429s absorbed per request before giving up
    backoff_base_s: float = 1.0
    backoff_max_s: float = 30.0
    poll_error_retries: int = 3  # consecutive 5xx/connection failures tolerated while polling
    extra_input: dict[str, Any] = field(default_factory=dict)  # per-model input fields; None drops one
    webhook_url: str | None = None  # Replicate calls it when the prediction completes
    price_per_image: Decimal = DEFAULT_PRICE_PER_IMAGE
    connect_timeout_s: float = 10.0
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES


class ReplicateBackend:
    """Renders a spec as one Replicate prediction and returns the downloaded image bytes."""

    kind = "replicate"

    def __init__(
        self,
        name: str,
        options: ReplicateOptions,
        transport: HttpTransport,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self.options = options
        self.price_per_image = options.price_per_image
        self._transport = transport
        self._base = options.base_url.rstrip("/")
        self._rng = rng or random.Random()  # noqa: S311  # nosec B311 - backoff jitter, not security
        self._in_flight: dict[str, str] = {}  # prediction id → its cancel URL
        self._cancelled: set[str] = set()
        self._downloader = ImageDownloader(
            transport,
            Timeouts(connect=options.connect_timeout_s, first_byte=60.0, total=120.0),
            max_bytes=options.max_image_bytes,
        )

    # -- the ImageBackend protocol ------------------------------------------------------------
    async def generate(self, spec: GenerationSpec, progress: ProgressCallback) -> list[GeneratedImage]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.timeout_s
        target = wire.target_for(spec.model)
        await progress(0.0, "submitting to Replicate")
        prediction = await self._create(spec, target, deadline)
        pid = prediction["id"]
        self._in_flight[pid] = self._cancel_url(prediction)
        try:
            prediction = await self._until_done(prediction, deadline, progress)
        except BaseException:
            # Abandoned, out of time or unreachable while still running: stop paying for it.
            # Shielded so that a cancelled task still sends the cancel.
            with contextlib.suppress(AlfredError):
                await asyncio.shield(self._cancel_prediction(pid))
            raise
        finally:
            self._in_flight.pop(pid, None)
            cancelled_by_us = pid in self._cancelled
            self._cancelled.discard(pid)
        images = await self._outputs(self._finished(prediction, cancelled_by_us), deadline)
        await progress(1.0, "done")
        return images

    async def cancel(self) -> None:
        """Cancel every prediction this backend is waiting on."""
        for pid in list(self._in_flight):
            self._cancelled.add(pid)
            with contextlib.suppress(AlfredError):
                await self._cancel_prediction(pid)

    async def close(self) -> None:
        await self.cancel()

    # -- steps --------------------------------------------------------------------------------
    async def _create(
        self, spec: GenerationSpec, target: wire.PredictionTarget, deadline: float
    ) -> dict[str, Any]:
        opts = self.options
        body = wire.prediction_body(spec, target, opts.extra_input, webhook=opts.webhook_url)
        remaining = deadline - asyncio.get_running_loop().time()
        wait_s = min(opts.wait_s, max(int(remaining) - 1, 0))
        headers = wire.prediction_headers(opts.api_token, wait_s=wait_s, cancel_after_s=opts.cancel_after_s)
        request = UpstreamRequest("POST", self._base + target.path, headers, _encoder.encode(body))
        # The server may hold a Prefer: wait request that long before it answers.
        timeouts = self._timeouts(first_byte=wait_s + 15.0)
        response = await self._send_with_backoff(request, timeouts, deadline)
        if response.status not in (200, 201, 202):
            raise wire.map_error(response.status, response.headers, response.body)
        return wire.decode_prediction(response.body)

    async def _until_done(
        self, prediction: dict[str, Any], deadline: float, progress: ProgressCallback
    ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        interval = self.options.poll_interval_s
        last_report: tuple[float, str] | None = None
        failures = 0
        while prediction["status"] not in wire.TERMINAL:
            report = wire.progress_of(prediction)
            if report != last_report:
                await progress(*report)
                last_report = report
            if loop.time() + interval >= deadline:
                raise UpstreamTimeoutError(
                    f"replicate: prediction {prediction['id']} not done within {self.options.timeout_s:g}s"
                )
            await asyncio.sleep(interval)
            interval = min(interval * 1.5, self.options.poll_interval_max_s)
            try:
                prediction = await self._get(prediction, deadline)
                failures = 0
            except AlfredError as exc:
                # A failed poll says nothing about the prediction: keep it unless failures persist.
                failures += 1
                if (
                    not exc.retryable
                    or isinstance(exc, RateLimitError)
                    or failures > self.options.poll_error_retries
                ):
                    raise
        return prediction

    @staticmethod
    def _finished(prediction: dict[str, Any], cancelled_by_us: bool) -> dict[str, Any]:
        status = prediction["status"]
        pid = prediction["id"]
        if status == "succeeded":
            return prediction
        if status == "failed":
            raise wire.failure_error(prediction)
        if cancelled_by_us:
            raise UpstreamError(
                f"replicate: prediction {pid} was cancelled", code="cancelled", retryable=False
            )
        if status == "aborted":
            raise UpstreamTimeoutError(
                f"replicate: prediction {pid} aborted by Cancel-After before it started"
            )
        raise UpstreamTimeoutError(
            f"replicate: prediction {pid} canceled (Cancel-After deadline or upstream)"
        )

    async def _get(self, prediction: dict[str, Any], deadline: float) -> dict[str, Any]:
        url = self._get_url(prediction)
        request = UpstreamRequest("GET", url, self._auth_headers())
        response = await self._send_with_backoff(request, self._timeouts(first_byte=30.0), deadline)
        if response.status != 200:
            raise wire.map_error(response.status, response.headers, response.body)
        return wire.decode_prediction(response.body)

    async def _outputs(self, prediction: dict[str, Any], deadline: float) -> list[GeneratedImage]:
        urls = wire.output_urls(prediction.get("output"))
        if not urls:
            raise UpstreamError(f"replicate: prediction {prediction['id']} succeeded without output files")
        remaining = max(deadline - asyncio.get_running_loop().time(), 1.0)
        api_host = urlsplit(self._base).netloc
        downloads = [
            # Files served by the API itself (api.replicate.com/v1/files/…) need the token.
            self._downloader.fetch(
                url,
                provider="replicate",
                headers=self._auth_headers() if urlsplit(url).netloc == api_host else None,
            )
            for url in urls
        ]
        try:
            async with asyncio.timeout(remaining):
                return list(await asyncio.gather(*downloads))
        except TimeoutError as exc:
            raise UpstreamTimeoutError("replicate: downloading outputs ran past the deadline") from exc

    async def _cancel_prediction(self, pid: str) -> None:
        url = self._in_flight.get(pid) or f"{self._base}/predictions/{pid}/cancel"
        request = UpstreamRequest("POST", url, self._auth_headers())
        response = await self._transport.send(request, self._timeouts(first_byte=15.0), "replicate")
        if response.status not in (200, 201, 202, 204):
            raise wire.map_error(response.status, response.headers, response.body)

    # -- HTTP ---------------------------------------------------------------------------------
    async def _send_with_backoff(
        self, request: UpstreamRequest, timeouts: Timeouts, deadline: float
    ) -> UpstreamResponse:
        """Send, sleeping through 429s (Retry-After first, else jittered exponential backoff)."""
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            response = await self._transport.send(request, timeouts, "replicate")
            if response.status != 429 or attempt >= self.options.rate_limit_retries:
                return response
            delay = self._backoff(attempt, response.headers.get("retry-after"))
            if loop.time() + delay >= deadline:
                return response  # waiting would pass the deadline: let the 429 surface
            await asyncio.sleep(delay)
            attempt += 1

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            with contextlib.suppress(ValueError):
                return min(max(float(retry_after), 0.0), self.options.backoff_max_s)
        ceiling = min(self.options.backoff_base_s * (2.0**attempt), self.options.backoff_max_s)
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def _timeouts(self, *, first_byte: float) -> Timeouts:
        return Timeouts(
            connect=self.options.connect_timeout_s, first_byte=first_byte, total=first_byte + 30.0
        )

    def _auth_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.options.api_token}"}

    def _get_url(self, prediction: dict[str, Any]) -> str:
        urls = prediction.get("urls")
        if isinstance(urls, dict) and isinstance(urls.get("get"), str):
            return str(urls["get"])
        return f"{self._base}/predictions/{prediction['id']}"

    def _cancel_url(self, prediction: dict[str, Any]) -> str:
        urls = prediction.get("urls")
        if isinstance(urls, dict) and isinstance(urls.get("cancel"), str):
            return str(urls["cancel"])
        return f"{self._base}/predictions/{prediction['id']}/cancel"
