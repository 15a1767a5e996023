"""An ``ImageBackend`` over OpenAI's Images API (``POST /v1/images/generations``): the second fallback.

DALL·E models are asked for ``response_format: "b64_json"`` so the bytes arrive in the answer;
``gpt-image-*`` models always answer base64 and refuse the parameter, so it is left out for them.
A ``url`` answer is still downloaded at once (those URLs expire after 60 minutes). DALL·E 3
renders one image per request, so ``n`` > 1 becomes that many parallel requests. The API has no
negative prompt or seed: both are dropped.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import msgspec

from alfred.errors import AlfredError, ContentPolicyError, UpstreamError
from alfred.images.backend import ProgressCallback
from alfred.providers.base import UpstreamRequest, upstream_error
from alfred.providers.image_download import DEFAULT_MAX_IMAGE_BYTES, ImageDownloader, image_from_bytes
from alfred.providers.openai_compat import openai_error_message
from alfred.providers.transport import HttpTransport, Timeouts
from alfred.schema.images import GeneratedImage, GenerationSpec

_encoder = msgspec.json.Encoder()
PROVIDER = "openai-images"


@dataclass(frozen=True, slots=True)
class OpenAIImagesOptions:
    """How to reach the Images API and the per-model knobs it takes."""

    api_key: str
    base_url: str = "https://api.openai.com/v1"
    organization: str | None = None
    quality: str | None = None  # dall-e-3: standard | hd; gpt-image: low | medium | high | auto
    style: str | None = None  # dall-e-3: vivid | natural
    output_format: str | None = None  # gpt-image: png | jpeg | webp
    extra_body: dict[str, Any] = field(default_factory=dict)
    timeout_s: float = 300.0
    connect_timeout_s: float = 10.0
    price_per_image: Decimal = Decimal("0.04")  # dall-e-3 standard 1024², the list price
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES


def is_gpt_image(model: str) -> bool:
    return model.startswith("gpt-image") or model.startswith("chatgpt-image")


def images_body(spec: GenerationSpec, options: OpenAIImagesOptions, n: int) -> dict[str, Any]:
    """The request body for ``n`` images of ``spec``."""
    body: dict[str, Any] = {
        "model": spec.model,
        "prompt": spec.prompt,
        "n": n,
        "size": f"{spec.width}x{spec.height}",
    }
    if is_gpt_image(spec.model):
        if options.output_format:
            body["output_format"] = options.output_format
        if spec.background == "transparent":
            body["background"] = "transparent"
    else:
        body["response_format"] = "b64_json"
        if options.style:
            body["style"] = options.style
    if options.quality:
        body["quality"] = options.quality
    body.update(options.extra_body)
    return body


def request_counts(spec: GenerationSpec) -> list[int]:
    """How many images each request asks for: DALL·E 3 takes only n=1."""
    if spec.model.startswith("dall-e-3"):
        return [1] * spec.n
    return [spec.n]


class OpenAIImagesBackend:
    """Renders a spec with OpenAI's Images API and returns the decoded image bytes."""

    kind = "openai-images"

    def __init__(self, name: str, options: OpenAIImagesOptions, transport: HttpTransport) -> None:
        self.name = name
        self.options = options
        self.price_per_image = options.price_per_image
        self._transport = transport
        self._base = options.base_url.rstrip("/")
        self._tasks: set[asyncio.Task[list[GeneratedImage]]] = set()
        timeouts = Timeouts(
            connect=options.connect_timeout_s, first_byte=options.timeout_s, total=options.timeout_s
        )
        self._timeouts = timeouts
        self._downloader = ImageDownloader(transport, timeouts, max_bytes=options.max_image_bytes)

    async def generate(self, spec: GenerationSpec, progress: ProgressCallback) -> list[GeneratedImage]:
        await progress(0.0, "submitting to the OpenAI Images API")
        tasks = [asyncio.ensure_future(self._one_request(spec, n)) for n in request_counts(spec)]
        self._tasks.update(tasks)
        try:
            batches = await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
                self._tasks.discard(task)
        await progress(1.0, "done")
        return [image for batch in batches for image in batch]

    async def cancel(self) -> None:
        """Drop the requests in flight (OpenAI has no cancel; a dropped request stops the wait)."""
        for task in list(self._tasks):
            task.cancel()

    async def close(self) -> None:
        await self.cancel()

    async def _one_request(self, spec: GenerationSpec, n: int) -> list[GeneratedImage]:
        headers = {"authorization": f"Bearer {self.options.api_key}", "content-type": "application/json"}
        if self.options.organization:
            headers["openai-organization"] = self.options.organization
        body = _encoder.encode(images_body(spec, self.options, n))
        request = UpstreamRequest("POST", f"{self._base}/images/generations", headers, body)
        response = await self._transport.send(request, self._timeouts, PROVIDER)
        if response.status != 200:
            raise map_error(response.status, response.headers, response.body)
        return await self._images(response.body)

    async def _images(self, body: bytes) -> list[GeneratedImage]:
        try:
            data = msgspec.json.decode(body)
        except msgspec.DecodeError as exc:
            raise UpstreamError(f"{PROVIDER}: malformed response ({exc})") from exc
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list) or not items:
            raise UpstreamError(f"{PROVIDER}: response has no images")
        out: list[GeneratedImage] = []
        for item in items:
            if not isinstance(item, dict):
                raise UpstreamError(f"{PROVIDER}: malformed image entry")
            if isinstance(item.get("b64_json"), str):
                try:
                    raw = base64.b64decode(item["b64_json"], validate=True)
                except (binascii.Error, ValueError) as exc:
                    raise UpstreamError(f"{PROVIDER}: b64_json is not valid base64") from exc
                out.append(image_from_bytes(raw, provider=PROVIDER, source="b64_json"))
            elif isinstance(item.get("url"), str):
                out.append(await self._downloader.fetch(item["url"], provider=PROVIDER))
            else:
                raise UpstreamError(f"{PROVIDER}: image entry has neither b64_json nor url")
        return out


def map_error(status: int, headers: dict[str, str], body: bytes) -> AlfredError:
    message = openai_error_message(body)
    code = _error_code(body)
    if code == "content_policy_violation" or code == "moderation_blocked":
        return ContentPolicyError(f"{PROVIDER}: {message}", retryable=False)
    return upstream_error(status, message, provider=PROVIDER, retry_after=headers.get("retry-after"))


def _error_code(body: bytes) -> str | None:
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    error = data.get("error") if isinstance(data, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None
