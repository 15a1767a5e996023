"""Mock of OpenAI's Images API: ``POST /v1/images/generations`` answering real PNGs.

DALL·E models honour ``response_format`` (``url`` answers point at ``/v1/images/files/…`` on this
mock, ``b64_json`` inlines the bytes) and ``dall-e-3`` takes only ``n=1``; ``gpt-image-*`` models
always answer base64 with ``usage``, ``size``, ``quality``, ``background`` and ``output_format``,
as the live API does. A prompt containing ``mock:unsafe`` is refused as a content policy
violation. Faults apply as for every mock (``intake``).
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections import OrderedDict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from alfred.mock.intake import intake, retry_headers
from alfred.mock.openai import error_response
from alfred.mock.png import image_key, render_png
from alfred.mock.state import MockState

_SIZE = re.compile(r"^(\d{2,4})x(\d{2,4})$")
MAX_FILES = 1024


def _is_gpt_image(model: str) -> bool:
    return model.startswith("gpt-image") or model.startswith("chatgpt-image")


def routes(state: MockState) -> list[BaseRoute]:
    files: OrderedDict[str, bytes] = OrderedDict()

    async def generations(request: Request) -> Response:
        body, decision = await intake(state, request)
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return error_response(401, "Incorrect API key provided (mock).")
        if decision.status:
            return error_response(
                decision.status, f"mock fault: HTTP {decision.status}", retry_headers(decision)
            )
        if not isinstance(body, dict) or not isinstance(body.get("prompt"), str) or not body["prompt"]:
            return error_response(400, "'prompt' is a required property (mock)")
        prompt = body["prompt"]
        model = str(body.get("model") or "dall-e-2")
        n = body.get("n", 1)
        if not isinstance(n, int) or not 1 <= n <= 10:
            return error_response(400, f"{n!r} is not valid for 'n': expected 1 to 10")
        if model.startswith("dall-e-3") and n != 1:
            return error_response(400, "You must provide n=1 for this model.")
        size = str(body.get("size") or ("auto" if _is_gpt_image(model) else "1024x1024"))
        match = _SIZE.match(size)
        if size == "auto":
            width = height = 1024
        elif match:
            width, height = int(match.group(1)), int(match.group(2))
        else:
            return error_response(
                400, f"Invalid value: '{size}'. Supported values are: '256x256', '512x512', '1024x1024', ..."
            )
        if "mock:unsafe" in prompt:
            return JSONResponse(
                {
                    "error": {
                        "message": "Your request was rejected as a result of our safety system.",
                        "type": "image_generation_user_error",
                        "param": None,
                        "code": "content_policy_violation",
                    }
                },
                status_code=400,
            )
        gpt_image = _is_gpt_image(model)
        response_format = "b64_json" if gpt_image else str(body.get("response_format") or "url")
        if response_format not in ("url", "b64_json"):
            return error_response(
                400, f"Invalid value: '{response_format}'. Supported values are: 'url' and 'b64_json'."
            )
        data: list[dict[str, Any]] = []
        for index in range(n):
            png = render_png(image_key(prompt, 0, index, width, height), width, height)
            item: dict[str, Any] = {}
            if response_format == "b64_json":
                item["b64_json"] = base64.b64encode(png).decode("ascii")
            else:
                name = hashlib.sha256(png).hexdigest()[:24] + ".png"
                files[name] = png
                while len(files) > MAX_FILES:
                    files.popitem(last=False)
                item["url"] = f"{request.base_url}v1/images/files/{name}"
            if model.startswith("dall-e-3"):
                item["revised_prompt"] = f"A detailed image of {prompt}"
            data.append(item)
        answer: dict[str, Any] = {"created": int(time.time()), "data": data}
        if gpt_image:
            tokens = max(len(prompt.split()), 1)
            answer.update(
                {
                    "background": body.get("background") or "opaque",
                    "output_format": body.get("output_format") or "png",
                    "quality": body.get("quality") or "medium",
                    "size": f"{width}x{height}",
                    "usage": {
                        "input_tokens": tokens,
                        "output_tokens": 1056 * n,
                        "total_tokens": tokens + 1056 * n,
                        "input_tokens_details": {"text_tokens": tokens, "image_tokens": 0},
                    },
                }
            )
        return JSONResponse(answer)

    async def file(request: Request) -> Response:
        state.record(request.url.path, None, {})
        png = files.get(request.path_params["name"])
        if png is None:
            return Response("Not Found", status_code=404, media_type="text/plain")
        return Response(png, media_type="image/png")

    return [
        Route("/v1/images/generations", generations, methods=["POST"]),
        Route("/v1/images/files/{name}", file, methods=["GET"]),
    ]
