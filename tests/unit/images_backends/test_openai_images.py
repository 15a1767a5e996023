"""OpenAI Images backend: request bodies per model family, then generations against the mock."""

from __future__ import annotations

import pytest

from alfred.errors import ContentPolicyError, InvalidRequestError, RateLimitError
from alfred.mock.png import image_key, render_png
from alfred.mock.state import Fault
from alfred.providers.openai_images import (
    OpenAIImagesBackend,
    OpenAIImagesOptions,
    images_body,
    request_counts,
)
from alfred.providers.transport import HttpTransport
from alfred.schema.images import GenerationSpec
from tests.unit.images_backends.conftest import ImageMock, Progress


def spec(model: str, n: int = 1, **extra: object) -> GenerationSpec:
    return GenerationSpec(prompt="a frost bow, game icon", model=model, width=64, height=64, n=n, **extra)  # type: ignore[arg-type]


def backend(mock: ImageMock, transport: HttpTransport, **options: object) -> OpenAIImagesBackend:
    opts = OpenAIImagesOptions(api_key="sk-test", base_url=f"{mock.url}/v1", **options)  # type: ignore[arg-type]
    return OpenAIImagesBackend("openai-images", opts, transport)


def test_dalle_bodies_ask_for_base64() -> None:
    opts = OpenAIImagesOptions(api_key="k", quality="hd", style="natural")
    body = images_body(spec("dall-e-3", negative_prompt="text"), opts, 1)
    assert body == {
        "model": "dall-e-3",
        "prompt": "a frost bow, game icon",
        "n": 1,
        "size": "64x64",
        "response_format": "b64_json",
        "style": "natural",
        "quality": "hd",
    }


def test_gpt_image_bodies_leave_response_format_out() -> None:
    opts = OpenAIImagesOptions(api_key="k", output_format="webp", quality="low")
    body = images_body(spec("gpt-image-1", n=2, background="transparent"), opts, 2)
    assert "response_format" not in body
    assert body["output_format"] == "webp" and body["background"] == "transparent" and body["n"] == 2


def test_dalle3_splits_n_into_single_requests() -> None:
    assert request_counts(spec("dall-e-3", n=3)) == [1, 1, 1]
    assert request_counts(spec("gpt-image-1", n=3)) == [3]


@pytest.mark.parametrize(
    ("model", "n", "requests"), [("dall-e-2", 2, 1), ("dall-e-3", 3, 3), ("gpt-image-1", 2, 1)]
)
async def test_images_come_back_as_bytes(
    image_mock: ImageMock, transport: HttpTransport, model: str, n: int, requests: int
) -> None:
    progress = Progress()
    images = await backend(image_mock, transport).generate(spec(model, n=n), progress)
    assert len(images) == n
    assert all(image.media_type == "image/png" for image in images)
    assert images[0].data == render_png(image_key("a frost bow, game icon", 0, 0, 64, 64), 64, 64)
    assert image_mock.state.requests["/v1/images/generations"] == requests
    assert progress.fractions[0] == 0.0 and progress.fractions[-1] == 1.0


async def test_url_answers_are_downloaded_at_once(image_mock: ImageMock, transport: HttpTransport) -> None:
    images = await backend(image_mock, transport, extra_body={"response_format": "url"}).generate(
        spec("dall-e-2", n=2), Progress()
    )
    assert len(images) == 2 and images[0].data.startswith(b"\x89PNG")
    downloads = [path for path in image_mock.state.requests if path.startswith("/v1/images/files/")]
    assert len(downloads) == 2
    assert images[0].data == render_png(image_key("a frost bow, game icon", 0, 0, 64, 64), 64, 64)


async def test_content_policy_refusal_is_not_retryable(
    image_mock: ImageMock, transport: HttpTransport
) -> None:
    with pytest.raises(ContentPolicyError) as caught:
        await backend(image_mock, transport).generate(
            GenerationSpec(prompt="mock:unsafe", model="dall-e-3", width=64, height=64), Progress()
        )
    assert not caught.value.retryable and "safety system" in caught.value.message


async def test_rate_limit_keeps_retry_after(image_mock: ImageMock, transport: HttpTransport) -> None:
    image_mock.state.fault = Fault(status=429, retry_after=7)
    with pytest.raises(RateLimitError) as caught:
        await backend(image_mock, transport).generate(spec("dall-e-2"), Progress())
    assert caught.value.headers["retry-after"] == "7"


async def test_an_invalid_size_is_the_callers_error(image_mock: ImageMock, transport: HttpTransport) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await backend(image_mock, transport).generate(
            GenerationSpec(prompt="x", model="dall-e-2", width=7, height=7), Progress()
        )
    assert (
        caught.value.status == 400 and not caught.value.retryable and "Invalid value" in caught.value.message
    )
