"""CI's packaging smoke test: build the wheel, install it into a clean virtualenv, start ``alfred serve``
on the embedded default (examples/demo.yaml), make one chat call through the ``openai`` SDK and one image
job, then stop. It proves the wheel carries everything the server needs (package data, migrations, the
console) and that the base install runs without the repository on ``sys.path``.

Usage: ``python scripts/smoke_wheel.py [--keep DIR]`` (run from the repository root with the dev venv's
Python, which provides the ``openai`` client).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess  # nosec B404 - the smoke test runs pip and the installed server on purpose
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(args: list[str], **kwargs: object) -> None:
    print("+", " ".join(args), flush=True)
    subprocess.run(args, check=True, **kwargs)  # type: ignore[call-overload]  # noqa: S603  # nosec B603


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, server: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"alfred serve exited with {server.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"{url}/health/ready", timeout=2) as reply:  # noqa: S310  # nosec B310
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"alfred serve was not ready at {url} within {timeout:.0f} s")


def _image_job(url: str) -> str:
    body = json.dumps({"model": "demo-sdxl", "prompt": "a rusty iron sword, game icon"}).encode()
    request = urllib.request.Request(  # noqa: S310  # nosec B310 - loopback URL we started
        f"{url}/v1/images/generations",
        data=body,
        headers={"content-type": "application/json", "authorization": "Bearer demo", "prefer": "wait=60"},
    )
    with urllib.request.urlopen(request, timeout=90) as reply:  # noqa: S310  # nosec B310
        payload = json.loads(reply.read())
    images = payload.get("data") or []
    if not images or not (images[0].get("url") or images[0].get("b64_json")):
        raise SystemExit(f"the image job returned no image: {payload}")
    return str(images[0].get("url") or "<b64>")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="build in DIR and keep it (default: a temp dir)")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="alfred-smoke-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        dist = work / "dist"
        _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dist), str(ROOT)])
        wheel = next(dist.glob("alfred_gateway-*.whl"))
        venv = work / "venv"
        _run([sys.executable, "-m", "venv", str(venv)])
        _run([str(venv / "bin/pip"), "install", "--quiet", str(wheel)])
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        run_dir = work / "run"  # not the checkout: the server must not import the source tree
        run_dir.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ALFRED_", "PYTHONPATH"))}
        config = shutil.copy(ROOT / "examples/demo.yaml", run_dir / "demo.yaml")
        started = time.monotonic()
        server = subprocess.Popen(  # noqa: S603  # nosec B603
            [str(venv / "bin/alfred"), "serve", "--config", str(config), "--port", str(port)],
            cwd=run_dir,
            env=env,
        )
        try:
            _wait_ready(url, server)
            print(f"ready in {time.monotonic() - started:.2f} s", flush=True)
            from openai import OpenAI

            client = OpenAI(base_url=f"{url}/v1", api_key="demo", max_retries=0)
            reply = client.chat.completions.create(
                model="demo-chat", messages=[{"role": "user", "content": "Hello from the smoke test"}]
            )
            content = reply.choices[0].message.content
            if not content:
                raise SystemExit("the chat call returned no content")
            print(f"chat: {content[:60]!r}", flush=True)
            print(f"image: {_image_job(url)}", flush=True)
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        if server.returncode not in (0, -15):
            raise SystemExit(f"alfred serve stopped with {server.returncode}")
        print("wheel smoke test passed", flush=True)
        return 0
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
