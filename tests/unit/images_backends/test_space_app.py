"""``space/app.py`` under real Gradio, serving the tiny pipeline, called by the Space backend over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from alfred.errors import UpstreamError
from alfred.images.space_app import options_from_env
from alfred.providers.diffusers_local import DiffusersBackend, DiffusersOptions
from alfred.providers.spaces import SpaceBackend, SpaceOptions
from alfred.providers.transport import HttpTransport
from alfred.schema.images import GenerationSpec
from tests.servers import ROOT, free_port, wait_http
from tests.unit.images_backends.conftest import Progress

pytest.importorskip("gradio")

SPEC = GenerationSpec(
    prompt="a legendary fire sword",
    negative_prompt="blurry",
    model="tiny-sd",
    width=32,
    height=32,
    steps=3,
    guidance=5.0,
    seed=11,
    n=2,
)


def tiny_backend(model_dir: Path) -> DiffusersBackend:
    return DiffusersBackend("space", DiffusersOptions(model=str(model_dir), device="cpu", torch_threads=1))


@pytest.fixture(scope="module")
def space_url(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``space/app.py`` exactly as a Space starts it (``python app.py``), serving the tiny model."""
    port = free_port()
    env = {
        **os.environ,
        "ALFRED_SPACE_MODEL": str(tiny_model_dir),
        "ALFRED_SPACE_DEVICE": "cpu",
        "ALFRED_SPACE_TORCH_THREADS": "1",
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    log = (tmp_path_factory.mktemp("space") / "space.log").open("wb")  # a file: a full pipe would block it
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "space" / "app.py")],
        cwd=ROOT / "space",
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_http(f"{url}/gradio_api/info", deadline_s=180, proc=proc)
        except (RuntimeError, TimeoutError) as exc:
            log.flush()
            raise RuntimeError(f"{exc}\n{Path(log.name).read_text(errors='replace')[-3000:]}") from exc
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


async def test_the_space_serves_what_the_local_pipeline_renders(
    space_url: str, tiny_model_dir: Path, transport: HttpTransport
) -> None:
    progress = Progress()
    remote = await SpaceBackend("space-1", SpaceOptions(base_url=space_url), transport).generate(
        SPEC, progress
    )
    local = tiny_backend(tiny_model_dir)
    try:
        direct = await local.generate(SPEC, Progress())
    finally:
        await local.close()
    assert len(remote) == 2
    assert [image.data for image in remote] == [image.data for image in direct]
    messages = [message for _, message in progress.events]
    assert "step 1/3" in messages and "step 3/3" in messages
    assert progress.fractions == sorted(progress.fractions) and progress.fractions[-1] == 1.0


async def test_the_spaces_errors_reach_the_caller(space_url: str, transport: HttpTransport) -> None:
    bad = GenerationSpec(prompt="axe", model="tiny-sd", width=33, height=32, steps=1)
    with pytest.raises(UpstreamError, match="multiples of 8"):
        await SpaceBackend("space-1", SpaceOptions(base_url=space_url), transport).generate(bad, Progress())


def test_the_app_is_configured_from_the_environment() -> None:
    options = options_from_env(
        {
            "ALFRED_SPACE_MODEL": "stabilityai/sdxl-turbo",
            "ALFRED_SPACE_DEVICE": "cuda",
            "ALFRED_SPACE_TORCH_THREADS": "2",
        }
    )
    assert (options.model, options.device, options.dtype, options.torch_threads) == (
        "stabilityai/sdxl-turbo",
        "cuda",
        "auto",
        2,
    )
    assert options_from_env({}).model == "stabilityai/sd-turbo"
