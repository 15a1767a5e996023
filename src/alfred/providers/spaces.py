"""An ``ImageBackend`` that calls a Hugging Face Space running Alfred's Space app (``images/space_app.py``).

It speaks Gradio's documented HTTP API over the gateway's pooled aiohttp session instead of
``gradio_client``: ``POST {space}/gradio_api/call/{api_name}`` with ``{"data": [...]}`` answers
``{"event_id"}``; ``GET {space}/gradio_api/call/{api_name}/{event_id}`` streams SSE events
``generating`` (our app's first output is ``{"progress", "message"}``), ``heartbeat`` (every 15 s),
``complete`` (the outputs, files as ``gradio.FileData`` objects) or ``error``. Files are then
downloaded from their ``url`` (or ``/gradio_api/file=<path>``) and returned as bytes. Private
Spaces take ``Authorization: Bearer <HF token>`` on every request.

Why not ``gradio_client``: it is synchronous (threads per call), fetches the app config on
connect, and its queue protocol changes across Gradio majors; the two documented routes above
are stable, stream natively on the event loop and are what the mock upstream speaks too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import msgspec

from alfred.errors import AlfredError, UpstreamError, UpstreamTimeoutError
from alfred.images.backend import ProgressCallback
from alfred.providers.base import UpstreamRequest, upstream_error
from alfred.providers.image_download import DEFAULT_MAX_IMAGE_BYTES, ImageDownloader
from alfred.providers.sse import SSEParser
from alfred.providers.transport import HttpTransport, Timeouts, UpstreamStream
from alfred.schema.images import GeneratedImage, GenerationSpec

_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class SpaceOptions:
    """Where the Space is and how long one generation may take there."""

    base_url: str  # the Gradio app URL, e.g. "https://owner-name.hf.space" (not huggingface.co/spaces/…)
    hf_token: str | None = None  # for private Spaces
    api_name: str = "generate"
    timeout_s: float = 900.0  # a CPU Space's SDXL takes minutes: see docs/benchmarks.md
    connect_timeout_s: float = 10.0
    idle_timeout_s: float = 60.0  # Gradio sends a heartbeat every 15 s while a job waits
    price_per_image: Decimal = Decimal(0)
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES


def space_inputs(spec: GenerationSpec) -> list[Any]:
    """The endpoint's data list, in ``space_app.INPUT_NAMES`` order."""
    return [
        spec.prompt,
        spec.negative_prompt,
        spec.width,
        spec.height,
        spec.steps,
        spec.guidance,
        spec.seed,
        spec.n,
    ]


def file_entries(value: Any) -> Iterator[dict[str, Any]]:
    """Every ``gradio.FileData`` object in an output list, in order (galleries nest them)."""
    if isinstance(value, dict):
        meta = value.get("meta")
        if isinstance(value.get("path"), str) and (
            (isinstance(meta, dict) and meta.get("_type") == "gradio.FileData") or "url" in value
        ):
            yield value
            return
        for item in value.values():
            yield from file_entries(item)
    elif isinstance(value, list):
        for item in value:
            yield from file_entries(item)


def error_text(data: str) -> str:
    """The message of an ``error`` event: ``{"error": msg|null, ...}``, a JSON string, or null."""
    try:
        parsed = msgspec.json.decode(data) if data else None
    except msgspec.DecodeError:
        return data.strip()[:300]
    if isinstance(parsed, dict):
        parsed = parsed.get("error")
    if isinstance(parsed, str) and parsed:
        return parsed
    return "the Space failed without details (it hides errors unless show_error is on)"


class SpaceBackend:
    """Renders a spec on a remote Gradio Space and downloads the files it produced."""

    kind = "space"

    def __init__(self, name: str, options: SpaceOptions, transport: HttpTransport) -> None:
        self.name = name
        self.options = options
        self.price_per_image = options.price_per_image
        self._transport = transport
        self._base = options.base_url.rstrip("/")
        self._streams: set[UpstreamStream] = set()
        self._cancelled: set[UpstreamStream] = set()
        self._downloader = ImageDownloader(
            transport,
            Timeouts(connect=options.connect_timeout_s, first_byte=60.0, total=120.0),
            max_bytes=options.max_image_bytes,
        )

    async def generate(self, spec: GenerationSpec, progress: ProgressCallback) -> list[GeneratedImage]:
        try:
            async with asyncio.timeout(self.options.timeout_s):
                await progress(0.0, f"submitting to Space {self.name}")
                event_id = await self._submit(spec)
                outputs = await self._result(event_id, progress)
                files = list(file_entries(outputs))
                if not files:
                    raise UpstreamError(f"space {self.name}: finished without image files")
                images = list(await asyncio.gather(*(self._download(entry) for entry in files)))
        except TimeoutError as exc:
            raise UpstreamTimeoutError(
                f"space {self.name}: no result within {self.options.timeout_s:g}s"
            ) from exc
        await progress(1.0, "done")
        return images

    async def cancel(self) -> None:
        """Stop waiting on every call in flight (the Space finishes the image it is rendering)."""
        for stream in list(self._streams):
            self._cancelled.add(stream)
            stream.close()

    async def close(self) -> None:
        await self.cancel()

    # -- steps --------------------------------------------------------------------------------
    def _headers(self, **extra: str) -> dict[str, str]:
        headers = dict(extra)
        if self.options.hf_token:
            headers["authorization"] = f"Bearer {self.options.hf_token}"
        return headers

    def _timeouts(self, first_byte: float) -> Timeouts:
        return Timeouts(
            connect=self.options.connect_timeout_s,
            first_byte=first_byte,
            total=self.options.timeout_s,
            stream_idle=self.options.idle_timeout_s,
        )

    async def _submit(self, spec: GenerationSpec) -> str:
        url = f"{self._base}/gradio_api/call/{self.options.api_name}"
        body = _encoder.encode({"data": space_inputs(spec)})
        request = UpstreamRequest("POST", url, self._headers(**{"content-type": "application/json"}), body)
        response = await self._transport.send(request, self._timeouts(60.0), f"space {self.name}")
        if response.status != 200:
            raise upstream_error(
                response.status,
                _detail(response.body),
                provider=f"space {self.name}",
                retry_after=response.headers.get("retry-after"),
            )
        try:
            event_id = msgspec.json.decode(response.body).get("event_id")
        except (msgspec.DecodeError, AttributeError):
            event_id = None
        if not isinstance(event_id, str) or not event_id:
            raise UpstreamError(f"space {self.name}: no event_id in the call's answer")
        return event_id

    async def _result(self, event_id: str, progress: ProgressCallback) -> Any:
        url = f"{self._base}/gradio_api/call/{self.options.api_name}/{quote(event_id, safe='')}"
        request = UpstreamRequest("GET", url, self._headers(accept="text/event-stream"), stream=True)
        stream = await self._transport.open_stream(request, self._timeouts(60.0), f"space {self.name}")
        self._streams.add(stream)
        try:
            if stream.status != 200:
                raise upstream_error(
                    stream.status, _detail(await stream.body()), provider=f"space {self.name}"
                )
            parser = SSEParser()
            async for chunk in stream.iter_bytes():
                for event in parser.feed(chunk):
                    outcome = await self._on_event(event.event, event.data, progress)
                    if outcome is not None:
                        return outcome
        except AlfredError:
            if stream in self._cancelled:
                raise self._cancelled_error() from None
            raise
        finally:
            self._streams.discard(stream)
            self._cancelled.discard(stream)
            stream.close()
        if stream in self._cancelled:
            raise self._cancelled_error()
        raise UpstreamError(f"space {self.name}: the event stream ended before a result")

    async def _on_event(self, name: str, data: str, progress: ProgressCallback) -> Any:
        """The outputs once ``complete`` arrives; None while the job runs."""
        if name == "complete":
            try:
                return msgspec.json.decode(data)
            except msgspec.DecodeError as exc:
                raise UpstreamError(f"space {self.name}: malformed complete event") from exc
        if name == "error":
            raise UpstreamError(f"space {self.name}: {error_text(data)}", code="space_error")
        if name == "generating":
            try:
                outputs = msgspec.json.decode(data)
            except msgspec.DecodeError:
                return None
            status = outputs[0] if isinstance(outputs, list) and outputs else None
            if isinstance(status, dict) and isinstance(status.get("progress"), int | float):
                fraction = min(max(float(status["progress"]), 0.0), 1.0)
                await progress(fraction * 0.95, str(status.get("message") or "generating"))
        return None  # heartbeat and anything new

    async def _download(self, entry: dict[str, Any]) -> GeneratedImage:
        url = entry.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            url = f"{self._base}/gradio_api/file={quote(str(entry['path']))}"
        return await self._downloader.fetch(url, provider=f"space {self.name}", headers=self._headers())

    def _cancelled_error(self) -> AlfredError:
        return UpstreamError(f"space {self.name}: generation cancelled", code="cancelled", retryable=False)


def _detail(body: bytes) -> str:
    """FastAPI's ``{"detail": ...}`` error bodies (Gradio's routes), else the start of the text."""
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body[:300].decode("utf-8", errors="replace").strip()
    if isinstance(data, dict) and data.get("detail") is not None:
        return str(data["detail"])
    return body[:300].decode("utf-8", errors="replace").strip()
