"""Mock of Replicate's HTTP API: predictions that go starting → processing → succeeded over time.

Speaks the real format: ``POST /v1/models/{owner}/{name}/predictions``, ``POST /v1/predictions``
(with ``version``), ``POST /v1/deployments/{owner}/{name}/predictions``, ``GET /v1/predictions/{id}``,
``POST /v1/predictions/{id}/cancel``, ``Prefer: wait[=N]``, ``Cancel-After`` (a prediction past it
is ``aborted`` if it had not started, else ``canceled``), RFC 7807 error bodies, tqdm progress in
``logs``, and output URLs to real PNG files served by this mock under ``/replicate-delivery/``.

Timing: each prediction spends ``starting_s`` starting and ``processing_s`` (plus a fault's
``latency_ms``) processing; set them with ``POST /mock/replicate/timing``. A fault's ``status``
answers any Replicate route with that error; ``hang`` leaves new predictions processing forever.
A prompt containing ``mock:fail`` or ``mock:nsfw`` makes the prediction fail with a reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from alfred.mock.intake import retry_headers
from alfred.mock.png import image_key, render_png
from alfred.mock.state import Decision, MockState

MAX_PREDICTIONS = 10_000
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass
class ReplicateTiming:
    """How long mock predictions take, in seconds."""

    starting_s: float = 0.05
    processing_s: float = 0.3


@dataclass
class MockPrediction:
    """One prediction; its status is a function of the clock, so nothing runs in the background."""

    id: str
    model: str
    version: str
    input: dict[str, Any]
    base_url: str
    created: float  # monotonic
    created_wall: float
    starting_s: float
    processing_s: float
    cancel_at: float | None = None  # monotonic deadline from Cancel-After
    hang: bool = False
    failure: str | None = None
    final: str | None = None  # set once cancelled by the client
    final_at: float | None = None
    polls: int = 0
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def steps(self) -> int:
        value = self.input.get("num_inference_steps")
        return int(value) if isinstance(value, int) and 0 < value <= 500 else 4

    def status(self, now: float) -> str:
        if self.final is not None:
            return self.final
        started = self.created + self.starting_s
        done = started + self.processing_s
        if self.cancel_at is not None and now >= self.cancel_at and (self.hang or self.cancel_at < done):
            return "aborted" if self.cancel_at < started else "canceled"
        if now < started:
            return "starting"
        if self.hang or now < done:
            return "processing"
        return "failed" if self.failure else "succeeded"

    def terminal_at(self) -> float | None:
        """When the clock alone ends it (done or Cancel-After), or None if it would run forever."""
        done = None if self.hang else self.created + self.starting_s + self.processing_s
        if self.cancel_at is None:
            return done
        return self.cancel_at if done is None else min(done, self.cancel_at)

    def finished_at(self, now: float) -> float | None:
        status = self.status(now)
        if status in ("starting", "processing"):
            return None
        if self.final_at is not None:
            return self.final_at
        if status in ("aborted", "canceled") and self.cancel_at is not None:
            return self.cancel_at
        return self.created + self.starting_s + self.processing_s

    def count(self) -> int:
        value = self.input.get("num_outputs", 1)
        return max(1, min(int(value), 4)) if isinstance(value, int) else 1

    def size(self) -> tuple[int, int]:
        width, height = self.input.get("width", 1024), self.input.get("height", 1024)
        width = width if isinstance(width, int) and 0 < width <= 2048 else 1024
        height = height if isinstance(height, int) and 0 < height <= 2048 else 1024
        return width, height

    def png(self, index: int) -> bytes:
        width, height = self.size()
        seed = self.input.get("seed", 0)
        return render_png(
            image_key(str(self.input.get("prompt", "")), int(seed or 0), index, width, height), width, height
        )

    def to_json(self, now: float) -> dict[str, Any]:
        status = self.status(now)
        api = f"{self.base_url}v1/predictions/{self.id}"
        body: dict[str, Any] = {
            "id": self.id,
            "model": self.model,
            "version": self.version,
            "input": self.input,
            "logs": self._logs(now, status),
            "output": None,
            "data_removed": False,
            "error": None,
            "status": status,
            "source": "api",
            "created_at": _iso(self.created_wall),
            "started_at": None,
            "completed_at": None,
            "urls": {
                "cancel": f"{api}/cancel",
                "get": api,
                "stream": f"{self.base_url}v1/streams/{self.id}",
                "web": f"https://replicate.com/p/{self.id}",
            },
        }
        wall = self.created_wall - self.created  # monotonic → wall clock offset
        if status != "starting" and status != "aborted":
            body["started_at"] = _iso(self.created + self.starting_s + wall)
        ended = self.finished_at(now)
        if ended is not None:
            body["completed_at"] = _iso(ended + wall)
        if status == "succeeded":
            body["output"] = [
                f"{self.base_url}replicate-delivery/{self.id}/out-{i}.png" for i in range(self.count())
            ]
            body["metrics"] = {
                "predict_time": round(self.processing_s, 3),
                "total_time": round(ended - self.created, 3) if ended else None,
            }
        if status == "failed":
            body["error"] = self.failure
        return body

    def _logs(self, now: float, status: str) -> str:
        if status == "starting" or status == "aborted":
            return ""
        running = min(now, self.finished_at(now) or now) - (self.created + self.starting_s)
        share = (
            1.0
            if status == "succeeded"
            else min(max(running / self.processing_s, 0.0), 1.0)
            if self.processing_s > 0
            else 1.0
        )
        total = self.steps
        current = min(int(share * total), total)
        lines = ["Using seed: " + str(self.input.get("seed", 0))]
        for step in range(current + 1):
            pct = step * 100 // total
            bar = "█" * (pct // 10) + " " * (10 - pct // 10)
            lines.append(f"{pct:3d}%|{bar}| {step}/{total} [00:00<00:00, 9.99it/s]")
        return "\n".join(lines) + "\n"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_duration(value: str) -> float | None:
    """A Go-style duration (``90s``, ``1m30s``, ``500ms``) in seconds, or None when malformed."""
    text = value.strip()
    if not text:
        return None
    pos = 0
    total = 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return total if pos == len(text) else None


def parse_prefer_wait(value: str | None) -> float:
    """``Prefer: wait`` holds up to 60 s; ``wait=N`` holds N seconds (1..60)."""
    if not value:
        return 0.0
    for part in value.split(","):
        name, _, number = part.strip().partition("=")
        if name.strip().lower() == "wait":
            try:
                return float(min(max(int(number), 1), 60)) if number else 60.0
            except ValueError:
                return 60.0
    return 0.0


def problem(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    body = {"title": title, "detail": detail, "status": status, **extra}
    return JSONResponse(body, status_code=status, headers=headers, media_type="application/problem+json")


_TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    402: "Insufficient credit",
    404: "Not found",
    422: "Input validation failed",
    429: "Request was throttled",
    500: "Internal server error",
    503: "Service unavailable",
}


def routes(state: MockState) -> list[BaseRoute]:
    timing = ReplicateTiming()
    predictions: OrderedDict[str, MockPrediction] = OrderedDict()
    counter = [0]

    async def admit(request: Request, body: Any = None) -> tuple[Decision, Response | None]:
        headers = {k.lower(): v for k, v in request.headers.items()}
        state.record(request.url.path, body, headers)
        decision = state.decide(request.url.path)
        auth = headers.get("authorization", "")
        if not (auth.startswith("Bearer ") or auth.startswith("Token ")) or len(auth) < 8:
            return decision, problem(401, "Unauthenticated", "You did not pass a valid authentication token")
        if decision.status:
            status = decision.status
            title = _TITLES.get(status, "Error")
            return decision, problem(status, title, f"mock fault: HTTP {status}", retry_headers(decision))
        return decision, None

    def new_id() -> str:
        counter[0] += 1
        digest = hashlib.sha256(f"{counter[0]}:{time.time_ns()}".encode()).digest()
        return "".join("abcdefghijklmnopqrstuvwxyz"[b % 26] for b in digest[:26])

    async def create(request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        decision, refusal = await admit(request, body)
        if refusal is not None:
            return refusal
        if not isinstance(body, dict):
            return problem(400, "Bad request", "request body is not a JSON object")
        inputs = body.get("input")
        if not isinstance(inputs, dict) or not isinstance(inputs.get("prompt"), str) or not inputs["prompt"]:
            return problem(
                422,
                "Input validation failed",
                "- input: prompt is required",
                invalid_fields=[
                    {"type": "required", "field": "input.prompt", "description": "prompt is required"}
                ],
            )
        params = request.path_params
        if "owner" in params:
            model = f"{params['owner']}/{params['name']}"
            version = (
                "dp-" + hashlib.sha256(model.encode()).hexdigest()[:29]
                if request.url.path.startswith("/v1/deployments/")
                else ""
            )
        else:
            named = body.get("version")
            if not isinstance(named, str) or not named:
                return problem(422, "Input validation failed", "- version: version is required")
            head, _, tail = named.partition(":")
            version = tail or named
            model = head if tail else "unknown/unknown"
        cancel_after = request.headers.get("cancel-after")
        cancel_s = None
        if cancel_after is not None:
            cancel_s = parse_duration(cancel_after)
            if cancel_s is None:
                return problem(400, "Bad request", f"invalid Cancel-After duration {cancel_after!r}")
        now = time.monotonic()
        prompt = inputs["prompt"]
        failure = None
        if "mock:nsfw" in prompt:
            failure = "NSFW content detected. Try running it again, or try a different prompt."
        elif "mock:fail" in prompt:
            failure = "mock: CUDA out of memory. Tried to allocate 2.00 GiB"
        prediction = MockPrediction(
            id=new_id(),
            model=model,
            version=version,
            input=inputs,
            base_url=str(request.base_url),
            created=now,
            created_wall=time.time(),
            starting_s=timing.starting_s,
            processing_s=timing.processing_s + decision.latency_ms / 1000,
            cancel_at=now + cancel_s if cancel_s is not None else None,
            hang=decision.hang,
            failure=failure,
        )
        predictions[prediction.id] = prediction
        while len(predictions) > MAX_PREDICTIONS:
            predictions.popitem(last=False)
        hold = parse_prefer_wait(request.headers.get("prefer"))
        ends = prediction.terminal_at()
        if ends is not None:
            hold = min(hold, max(ends - now, 0.0))
        if hold > 0:
            # Held like the real sync mode: until it ends, the wait runs out or a cancel arrives.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(prediction.cancelled.wait(), timeout=hold)
        return JSONResponse(prediction.to_json(time.monotonic()), status_code=201)

    async def get(request: Request) -> Response:
        decision, refusal = await admit(request)
        if refusal is not None:
            return refusal
        if decision.latency_ms:
            await asyncio.sleep(decision.latency_ms / 1000)
        prediction = predictions.get(request.path_params["pid"])
        if prediction is None:
            return problem(404, "Not found", "The requested resource could not be found.")
        prediction.polls += 1
        return JSONResponse(prediction.to_json(time.monotonic()))

    async def cancel(request: Request) -> Response:
        _, refusal = await admit(request)
        if refusal is not None:
            return refusal
        prediction = predictions.get(request.path_params["pid"])
        if prediction is None:
            return problem(404, "Not found", "The requested resource could not be found.")
        now = time.monotonic()
        if prediction.status(now) in ("starting", "processing"):
            prediction.final, prediction.final_at = "canceled", now
            prediction.cancelled.set()
        return JSONResponse(prediction.to_json(now))

    async def delivery(request: Request) -> Response:
        state.record(request.url.path, None, {})
        prediction = predictions.get(request.path_params["pid"])
        index = int(request.path_params["index"])
        if (
            prediction is None
            or prediction.status(time.monotonic()) != "succeeded"
            or index >= prediction.count()
        ):
            return Response("Not Found", status_code=404, media_type="text/plain")
        return Response(prediction.png(index), media_type="image/png")

    async def set_timing(request: Request) -> Response:
        data = await request.json()
        for key in ("starting_s", "processing_s"):
            if key in data:
                setattr(timing, key, max(float(data[key]), 0.0))
        return JSONResponse({"starting_s": timing.starting_s, "processing_s": timing.processing_s})

    async def listing(request: Request) -> Response:
        now = time.monotonic()
        return JSONResponse(
            {
                "predictions": [
                    {
                        "id": p.id,
                        "status": p.status(now),
                        "model": p.model,
                        "polls": p.polls,
                        "cancel_after": p.cancel_at is not None,
                    }
                    for p in predictions.values()
                ],
            }
        )

    async def reset(request: Request) -> Response:
        predictions.clear()
        return JSONResponse({"predictions": []})

    return [
        Route("/v1/models/{owner}/{name}/predictions", create, methods=["POST"]),
        Route("/v1/deployments/{owner}/{name}/predictions", create, methods=["POST"]),
        Route("/v1/predictions", create, methods=["POST"]),
        Route("/v1/predictions/{pid}", get, methods=["GET"]),
        Route("/v1/predictions/{pid}/cancel", cancel, methods=["POST"]),
        Route("/replicate-delivery/{pid}/out-{index:int}.png", delivery, methods=["GET"]),
        Route("/mock/replicate/timing", set_timing, methods=["POST"]),
        Route("/mock/replicate/predictions", listing, methods=["GET"]),
        Route("/mock/replicate/predictions", reset, methods=["DELETE"]),
    ]
