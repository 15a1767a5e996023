"""Mock of a Gradio Space running Alfred's Space app, in Gradio's documented HTTP API format.

``POST [/spaces/{space}]/gradio_api/call/generate`` with ``{"data": [prompt, negative_prompt, width,
height, steps, guidance, seed, n]}`` answers ``{"event_id"}``; ``GET …/call/generate/{event_id}``
streams ``event: generating`` / ``heartbeat`` / ``complete`` / ``error`` exactly as
``images/space_app.py`` does under real Gradio (captured from it), and the files are real PNGs at
``…/gradio_api/file=/tmp/gradio/<hash>/<name>.png``. Each ``/spaces/{space}`` prefix is its own
Space with its own queue, so several "instances" can share one mock server.

Like a Space on one GPU, each Space runs ``concurrency`` jobs at a time (default 1): the rest wait
in its queue, so slowness builds a queue. A job takes ``seconds`` (``POST /mock/gradio/timing``)
plus a fault's ``latency_ms``; a fault's ``hang`` never finishes it and its ``status`` refuses the
call with that HTTP status. A prompt containing ``mock:fail`` ends the job with an error event.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from alfred.images.space_app import API_NAME, INPUT_NAMES
from alfred.mock.intake import retry_headers
from alfred.mock.png import image_key, render_png
from alfred.mock.state import Decision, MockState, hang_forever

MAX_EVENTS = 2000  # Gradio keeps this many results in its LRU cache
MAX_FILES = 4096


@dataclass
class SpaceTiming:
    """How the mock Spaces behave: job length, heartbeat gap, queue bound and parallelism."""

    seconds: float = 0.2
    heartbeat_s: float = 15.0
    queue_size: int = 64
    concurrency: int = 1


@dataclass
class MockJob:
    """One call: its inputs, and the SSE events produced so far."""

    event_id: str
    space: str
    data: list[Any]
    decision: Decision
    base: str
    status: str = "queued"  # queued | running | complete | error
    events: list[tuple[str, Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def emit(self, name: str, data: Any) -> None:
        self.events.append((name, data))
        self.changed.set()

    @property
    def finished(self) -> bool:
        return self.status in ("complete", "error")


@dataclass
class MockSpace:
    slots: asyncio.Semaphore
    waiting: int = 0
    running: int = 0
    done: int = 0


def _gr_error(message: str | None) -> dict[str, Any]:
    if message is None:
        return {"error": None}  # what Gradio sends for an unexpected exception (show_error off)
    return {"error": message, "duration": 10, "visible": True, "title": "Error"}


def _sse(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def routes(state: MockState) -> list[BaseRoute]:
    timing = SpaceTiming()
    spaces: dict[str, MockSpace] = {}
    jobs: OrderedDict[str, MockJob] = OrderedDict()
    files: OrderedDict[str, bytes] = OrderedDict()
    tasks: set[asyncio.Task[None]] = set()

    def space_of(name: str) -> MockSpace:
        if name not in spaces:
            spaces[name] = MockSpace(asyncio.Semaphore(timing.concurrency))
        return spaces[name]

    def prefix(request: Request) -> str:
        space = request.path_params.get("space")
        return f"spaces/{space}/" if space else ""

    async def run(job: MockJob) -> None:
        space = space_of(job.space)
        space.waiting += 1
        started = False
        try:
            async with space.slots:
                space.waiting -= 1
                started = True
                space.running += 1
                try:
                    await render(job)
                finally:
                    space.running -= 1
                    space.done += 1
        finally:
            if not started:
                space.waiting -= 1

    async def render(job: MockJob) -> None:
        job.status = "running"
        prompt, _negative, width, height, steps, _guidance, seed, n = job.data
        if not isinstance(prompt, str) or not prompt.strip():
            job.status = "error"
            job.emit("error", _gr_error("prompt is required"))
            return
        try:
            width, height, steps, seed, n = int(width), int(height), max(int(steps), 1), int(seed), int(n)
        except (TypeError, ValueError):
            job.status = "error"
            job.emit("error", _gr_error(None))
            return
        if width % 8 or height % 8 or width <= 0 or height <= 0:
            job.status = "error"
            job.emit(
                "error", _gr_error(f"width and height must be positive multiples of 8, got {width}x{height}")
            )
            return
        job.emit("generating", [{"progress": 0.0, "message": "queued on the local pipeline"}, []])
        if job.decision.hang:
            await hang_forever()
        seconds = timing.seconds + job.decision.latency_ms / 1000
        shown = min(steps, 50)
        for step in range(shown):
            await asyncio.sleep(seconds / shown)
            fraction = round((step + 1) / shown * 0.95, 4)
            job.emit("generating", [{"progress": fraction, "message": f"step {step + 1}/{shown}"}, []])
        if "mock:fail" in prompt:
            job.status = "error"
            job.emit("error", _gr_error("diffusers: generation failed: mock failure"))
            return
        gallery = []
        for index in range(max(1, min(n, 4))):
            png = render_png(image_key(prompt, seed, index, width, height), width, height)
            digest = hashlib.sha256(png).hexdigest()
            name = f"{digest[:32]}-{seed + index}.png"
            path = f"/tmp/gradio/{digest}/{name}"  # noqa: S108  # nosec B108 - a path Gradio would report, never opened
            files[path] = png
            while len(files) > MAX_FILES:
                files.popitem(last=False)
            entry = {
                "path": path,
                "url": f"{job.base}gradio_api/file={path}",
                "size": None,
                "orig_name": name,
                "mime_type": "image/png",
                "is_stream": False,
                "meta": {"_type": "gradio.FileData"},
            }
            gallery.append({"image": entry, "caption": None})
        status = {"progress": 1.0, "message": "done", "seed": seed, "width": width, "height": height}
        job.emit("generating", [{"progress": 1.0, "message": "done"}, []])
        job.emit("generating", [status, gallery])
        job.status = "complete"
        job.emit("complete", [status, gallery])

    async def call(request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in request.headers.items()}
        state.record(
            request.url.path,
            body if isinstance(body, dict) else {"raw": raw[:200].decode("utf-8", "replace")},
            headers,
        )
        decision = state.decide(request.url.path)
        if request.path_params["api_name"] != API_NAME:
            return PlainTextResponse("Internal Server Error", status_code=500)  # Gradio's FnIndexInferError
        if decision.status:
            return JSONResponse(
                {"detail": f"mock fault: HTTP {decision.status}"},
                status_code=decision.status,
                headers=retry_headers(decision),
            )
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            return JSONResponse(
                {"detail": [{"type": "missing", "loc": ["body", "data"], "msg": "Field required"}]},
                status_code=422,
            )
        space_name = request.path_params.get("space", "")
        space = space_of(space_name)
        if space.waiting >= timing.queue_size:
            return JSONResponse({"detail": "Queue is full."}, status_code=503)
        job = MockJob(
            uuid.uuid4().hex, space_name, body["data"], decision, str(request.base_url) + prefix(request)
        )
        jobs[job.event_id] = job
        while len(jobs) > MAX_EVENTS:
            jobs.popitem(last=False)
        if len(job.data) != len(INPUT_NAMES):
            job.status = "error"
            job.emit("error", _gr_error(None))  # Gradio: "didn't receive enough input values", hidden
        else:
            task = asyncio.get_running_loop().create_task(run(job))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        return JSONResponse({"event_id": job.event_id})

    async def result(request: Request) -> Response:
        state.record(request.url.path, None, {k.lower(): v for k, v in request.headers.items()})
        job = jobs.get(request.path_params["event_id"])
        if job is None:
            return JSONResponse({"detail": "Not Found"}, status_code=404)

        async def stream() -> AsyncIterator[bytes]:
            sent = 0
            state.streams_started += 1
            try:
                while True:
                    while sent < len(job.events):
                        yield _sse(*job.events[sent])
                        sent += 1
                    if job.finished:
                        state.streams_completed += 1
                        return
                    job.changed.clear()
                    try:
                        await asyncio.wait_for(job.changed.wait(), timeout=timing.heartbeat_s)
                    except TimeoutError:
                        yield _sse("heartbeat", None)
            except (asyncio.CancelledError, GeneratorExit):
                state.streams_cancelled += 1
                raise

        return StreamingResponse(stream(), media_type="text/event-stream; charset=utf-8")

    async def file(request: Request) -> Response:
        state.record(request.url.path, None, {k.lower(): v for k, v in request.headers.items()})
        data = files.get(request.path_params["path"])
        if data is None:
            return JSONResponse({"detail": "File not allowed: not found."}, status_code=403)
        return Response(data, media_type="image/png")

    async def info(request: Request) -> Response:
        parameters = [
            {"label": name, "parameter_name": name, "component": "Textbox" if i < 2 else "Number"}
            for i, name in enumerate(INPUT_NAMES)
        ]
        returns = [{"label": "status", "component": "Json"}, {"label": "images", "component": "Gallery"}]
        return JSONResponse(
            {
                "named_endpoints": {f"/{API_NAME}": {"parameters": parameters, "returns": returns}},
                "unnamed_endpoints": {},
            }
        )

    async def set_timing(request: Request) -> Response:
        data = await request.json()
        if "seconds" in data:
            timing.seconds = max(float(data["seconds"]), 0.0)
        if "heartbeat_s" in data:
            timing.heartbeat_s = max(float(data["heartbeat_s"]), 0.01)
        if "queue_size" in data:
            timing.queue_size = max(int(data["queue_size"]), 0)
        if "concurrency" in data:
            timing.concurrency = max(int(data["concurrency"]), 1)
            spaces.clear()  # new Spaces get the new slot count
        return JSONResponse(vars(timing))

    async def listing(request: Request) -> Response:
        return JSONResponse(
            {
                "spaces": {
                    name or "/": {"waiting": s.waiting, "running": s.running, "done": s.done}
                    for name, s in spaces.items()
                },
                "jobs": [
                    {"event_id": j.event_id, "space": j.space, "status": j.status} for j in jobs.values()
                ],
            }
        )

    space_routes: list[BaseRoute] = []
    for root in ("", "/spaces/{space}"):
        space_routes += [
            Route(root + "/gradio_api/call/{api_name}", call, methods=["POST"]),
            Route(root + "/gradio_api/call/{api_name}/{event_id}", result, methods=["GET"]),
            Route(root + "/gradio_api/file={path:path}", file, methods=["GET", "HEAD"]),
            Route(root + "/gradio_api/info", info, methods=["GET"]),
        ]
    return [
        *space_routes,
        Route("/mock/gradio/timing", set_timing, methods=["POST"]),
        Route("/mock/gradio/jobs", listing, methods=["GET"]),
    ]
