"""The local diffusers backend, running a tiny random-weight pipeline for real on the CPU."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

import pytest

from alfred.errors import InvalidRequestError, ServiceUnavailableError, UpstreamError
from alfred.providers.diffusers_local import DiffusersBackend, DiffusersOptions
from alfred.schema.images import GenerationSpec
from tests.unit.images_backends.conftest import Progress


def spec(
    seed: int = 7, n: int = 1, steps: int = 3, prompt: str = "a fire sword", **extra: object
) -> GenerationSpec:
    return GenerationSpec(
        prompt=prompt,
        model="tiny-sd",
        width=32,
        height=32,
        steps=steps,
        guidance=5.0,
        seed=seed,
        n=n,
        **extra,
    )  # type: ignore[arg-type]


@pytest.fixture(scope="module")
async def local(tiny_model_dir: Path) -> DiffusersBackend:
    backend = DiffusersBackend(
        "local", DiffusersOptions(model=str(tiny_model_dir), device="cpu", torch_threads=1)
    )
    await backend.load()
    return backend


def decode(data: bytes) -> tuple[str, tuple[int, int]]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return str(image.format), image.size


async def test_loads_from_a_model_directory_and_renders_pngs(local: DiffusersBackend) -> None:
    assert local.loaded
    progress = Progress()
    images = await local.generate(spec(n=2, negative_prompt="blurry"), progress)
    assert len(images) == 2
    assert [decode(image.data) for image in images] == [("PNG", (32, 32))] * 2
    assert images[0].data != images[1].data  # image i uses seed + i
    assert [message for _, message in progress.events] == [
        "queued on the local pipeline",
        "step 1/3",
        "step 2/3",
        "step 3/3",
        "done",
    ]
    assert progress.fractions == sorted(progress.fractions)


async def test_a_seed_always_gives_the_same_picture(local: DiffusersBackend) -> None:
    first = await local.generate(spec(seed=123), Progress())
    again = await local.generate(spec(seed=123), Progress())
    other = await local.generate(spec(seed=124), Progress())
    assert first[0].data == again[0].data
    assert first[0].data != other[0].data
    # Image 1 of seed s is image 0 of seed s + 1: seeds are per image, whatever the batch.
    pair = await local.generate(spec(seed=123, n=2), Progress())
    assert pair[1].data == other[0].data


async def test_a_batch_renders_several_specs_in_one_call(local: DiffusersBackend) -> None:
    results = await local.generate_batch(
        [spec(seed=1, prompt="ice bow"), spec(seed=2, n=2, prompt="fire axe")], Progress()
    )
    assert [len(images) for images in results] == [1, 2]
    assert all(decode(image.data) == ("PNG", (32, 32)) for images in results for image in images)


async def test_bad_batches_and_sizes_are_refused(local: DiffusersBackend) -> None:
    with pytest.raises(InvalidRequestError, match="share size"):
        await local.generate_batch([spec(), spec(steps=4)], Progress())
    with pytest.raises(InvalidRequestError, match="multiples of 8"):
        await local.generate(GenerationSpec(prompt="x", model="m", width=30, height=32), Progress())
    with pytest.raises(InvalidRequestError, match="max_batch"):
        await local.generate(spec(n=5), Progress())


async def test_generation_runs_off_the_event_loop(local: DiffusersBackend) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    started = time.monotonic()
    await local.generate(spec(steps=20), Progress())
    elapsed = time.monotonic() - started
    task.cancel()
    # A blocked loop would tick once at most; a free one ticks all through the run.
    assert ticks >= min(10, int(elapsed / 0.005) // 4)


async def test_cancel_stops_at_the_next_step(local: DiffusersBackend) -> None:
    progress = Progress()
    task = asyncio.create_task(local.generate(spec(steps=500), progress))
    deadline = time.monotonic() + 30
    while len(progress.events) < 3 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await local.cancel()
    with pytest.raises(UpstreamError) as caught:
        await task
    assert caught.value.code == "cancelled"
    assert len(progress.events) < 400
    # The backend is still usable afterwards.
    assert len(await local.generate(spec(), Progress())) == 1


async def test_a_missing_model_fails_to_load_cleanly(tmp_path: Path) -> None:
    pytest.importorskip("diffusers")
    backend = DiffusersBackend(
        "broken", DiffusersOptions(model=str(tmp_path / "nope"), device="cpu", local_files_only=True)
    )
    with pytest.raises(ServiceUnavailableError, match="cannot load"):
        await backend.generate(spec(), Progress())
    await backend.close()
