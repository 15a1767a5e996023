"""Replicate's HTTP API wire format: prediction requests out, prediction objects and errors in.

Pure functions, no I/O; ``replicate.py`` drives them. Reference: Replicate's HTTP API docs and
``replicate/replicate-python`` (``prediction.py``: ``Prefer: wait=N``, the body fields, the
progress pattern it reads from logs).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

from alfred.errors import AlfredError, ContentPolicyError, InvalidRequestError, UpstreamError
from alfred.providers.base import upstream_error
from alfred.schema.images import GenerationSpec

PROVIDER = "replicate"
TERMINAL = frozenset({"succeeded", "failed", "canceled", "aborted"})
MAX_PREFER_WAIT_S = 60  # Replicate holds a sync request open for at most 60 seconds
_VERSION_ID = re.compile(r"^[0-9a-f]{64}$")
# The tqdm bar diffusion models print: "  40%|████      | 2/5 [00:01<00:01,  1.9it/s]"
_PROGRESS = re.compile(r"^\s*(\d+)%\s*\|.+?\|\s*(\d+)/(\d+)")


@dataclass(frozen=True, slots=True)
class PredictionTarget:
    """Where a model id sends its predictions, and the version the body names (if any)."""

    path: str
    version: str | None = None


def target_for(model: str) -> PredictionTarget:
    """``owner/name`` → the model's endpoint (official models); ``owner/name:version`` or a bare
    64-hex version id → ``/predictions`` with ``version``; ``deployment:owner/name`` → a deployment."""
    if model.startswith("deployment:"):
        owner_name = model.removeprefix("deployment:")
        _check_owner_name(owner_name, model)
        return PredictionTarget(f"/deployments/{owner_name}/predictions")
    if _VERSION_ID.match(model):
        return PredictionTarget("/predictions", model)
    name, sep, version = model.partition(":")
    _check_owner_name(name, model)
    if sep:
        if not version:
            raise InvalidRequestError(f"replicate model {model!r} has an empty version", retryable=False)
        return PredictionTarget("/predictions", version)
    return PredictionTarget(f"/models/{name}/predictions")


def _check_owner_name(name: str, model: str) -> None:
    owner, sep, rest = name.partition("/")
    if not sep or not owner or not rest or "/" in rest:
        raise InvalidRequestError(
            f"replicate model {model!r} must be owner/name, owner/name:version or a version id",
            retryable=False,
        )


def prediction_input(spec: GenerationSpec, extra: dict[str, Any]) -> dict[str, Any]:
    """The ``input`` object: the names SDXL-family models on Replicate take, then ``extra``.

    Models differ in what they accept (FLUX-schnell takes ``aspect_ratio``, not width/height), so
    ``extra`` overrides any field and a ``None`` value removes it.
    """
    fields: dict[str, Any] = {
        "prompt": spec.prompt,
        "width": spec.width,
        "height": spec.height,
        "num_outputs": spec.n,
        "num_inference_steps": spec.steps,
        "guidance_scale": spec.guidance,
        "seed": spec.seed,
    }
    if spec.negative_prompt:
        fields["negative_prompt"] = spec.negative_prompt
    for key, value in extra.items():
        if value is None:
            fields.pop(key, None)
        else:
            fields[key] = value
    return fields


def prediction_body(
    spec: GenerationSpec,
    target: PredictionTarget,
    extra_input: dict[str, Any],
    *,
    webhook: str | None = None,
    webhook_events: list[str] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"input": prediction_input(spec, extra_input)}
    if target.version is not None:
        body["version"] = target.version
    if webhook:
        body["webhook"] = webhook
        body["webhook_events_filter"] = webhook_events or ["completed"]
    return body


def prediction_headers(token: str, *, wait_s: int, cancel_after_s: int | None) -> dict[str, str]:
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    if wait_s > 0:
        headers["prefer"] = f"wait={min(wait_s, MAX_PREFER_WAIT_S)}"
    if cancel_after_s is not None:
        # A Go-style duration; Replicate cancels (or aborts, if not yet started) past it.
        headers["cancel-after"] = f"{max(cancel_after_s, 1)}s"
    return headers


def decode_prediction(body: bytes) -> dict[str, Any]:
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise UpstreamError(f"{PROVIDER}: malformed prediction response ({exc})") from exc
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("id"), str)
        or not isinstance(data.get("status"), str)
    ):
        raise UpstreamError(f"{PROVIDER}: response is not a prediction object")
    return data


def output_urls(output: Any) -> list[str]:
    """Every file URL in a prediction's output, in order (a string, a list, or an object of them)."""
    return list(_urls(output))


def _urls(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        if value.startswith(("http://", "https://", "data:")):
            yield value
    elif isinstance(value, list):
        for item in value:
            yield from _urls(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _urls(item)


def progress_of(prediction: dict[str, Any]) -> tuple[float, str]:
    """A progress fraction and message from the status and the model's tqdm log lines."""
    status = prediction.get("status")
    if status == "starting":
        return 0.05, "starting (waiting for a Replicate worker)"
    if status == "processing":
        logs = prediction.get("logs") or ""
        for line in reversed(logs.splitlines()):
            match = _PROGRESS.match(line)
            if match:
                current, total = int(match.group(2)), int(match.group(3))
                share = current / total if total else 0.0
                return 0.1 + 0.85 * min(share, 1.0), f"step {current}/{total}"
        return 0.1, "processing"
    return 0.0, str(status)


def failure_error(prediction: dict[str, Any]) -> AlfredError:
    """The error a ``failed`` prediction becomes, keeping Replicate's reason."""
    reason = str(prediction.get("error") or "no reason given")
    message = f"{PROVIDER}: prediction {prediction.get('id')} failed: {reason}"
    lowered = reason.lower()
    if "nsfw" in lowered or "safety" in lowered:
        return ContentPolicyError(message, retryable=False)
    return UpstreamError(message, code="prediction_failed")


def error_message(body: bytes) -> str:
    """Replicate's errors are RFC 7807 problem details: ``{"title", "detail", "status"}``."""
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body[:300].decode("utf-8", errors="replace").strip()
    if isinstance(data, dict):
        for key in ("detail", "title", "error"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return value
    return body[:300].decode("utf-8", errors="replace").strip()


def map_error(status: int, headers: dict[str, str], body: bytes) -> AlfredError:
    message = error_message(body)
    if status == 402:
        # Out of Replicate credit is the gateway's problem, and another backend may still serve.
        return UpstreamError(f"{PROVIDER}: {message}", code="upstream_billing", retryable=True)
    return upstream_error(status, message, provider=PROVIDER, retry_after=headers.get("retry-after"))
