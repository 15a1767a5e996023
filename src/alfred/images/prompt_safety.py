"""The safety policy on image prompts: the same scanner and per-team/per-key policy as chat's
``SafetyStage``, applied to ``prompt``, ``negative_prompt`` and the preset's text fields.

``block`` findings (and a prompt-injection score at the threshold) refuse the request with 400
``content_policy_violation`` naming the detector, kinds and field, never the value. ``mask`` findings
become typed placeholders before any backend sees the prompt; an image has no text to restore them
in, so they stay masked. ``log`` findings are counted in ``notes`` only (kinds and counts).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import msgspec

from alfred.errors import ContentPolicyError
from alfred.safety.findings import drop_overlaps
from alfred.safety.masking import Masker, reserved_placeholders
from alfred.safety.policy import Policy, PolicyBook
from alfred.safety.scanner import Scanner, ScanReport
from alfred.safety.secrets import SecretRecognizer
from alfred.safety.settings import SafetySettings
from alfred.schema import ChatRequest, Message
from alfred.schema.images import ImageRequest

_DETECTORS = {"pii": "PII", "secrets": "secrets", "injection": "prompt-injection"}


@dataclass(slots=True)
class PromptScreening:
    """What the screen did to one request: the request to run, and kinds/counts found (safe to log)."""

    request: ImageRequest
    notes: dict[str, dict[str, int]] = field(default_factory=dict)


def _texts(request: ImageRequest) -> list[tuple[str, str]]:
    """(param, text) for every text of the request a backend would turn into a prompt."""
    texts = [("prompt", request.prompt or ""), ("negative_prompt", request.negative_prompt or "")]
    texts.extend(
        (f"preset_fields.{name}", value)
        for name, value in sorted(request.preset_fields.items())
        if isinstance(value, str)
    )
    return [(param, text) for param, text in texts if text]


class ImagePromptSafety:
    """Screens image requests with the gateway's safety policy (see the module docstring)."""

    def __init__(self, settings: SafetySettings, scanner: Scanner | None = None) -> None:
        self._settings = settings
        self._policies = PolicyBook(settings)
        # Share the SafetyStage's scanner (pass it in); this default is built the way that stage builds its own.
        self._scanner = scanner or Scanner(secrets=SecretRecognizer(entropy_margin=settings.entropy_margin))

    async def screen(
        self, request: ImageRequest, *, team_id: str | None = None, key_id: str | None = None
    ) -> PromptScreening:
        """The request as it may run (masked where the policy says so); raises ``ContentPolicyError``."""
        if not self._settings.enabled:
            return PromptScreening(request)
        policy = self._policies.for_caller(team_id, key_id)
        texts = _texts(request)
        if policy.idle or not texts:
            return PromptScreening(request)
        # One user message per text: the scanner and its locations are chat's, message i is text i.
        as_chat = ChatRequest(model="-", messages=[Message(role="user", content=t) for _, t in texts])
        chars = sum(len(t) for _, t in texts)
        limit = self._settings.offload_chars
        if limit and chars > limit:
            report = await asyncio.to_thread(self._scanner.scan, as_chat, policy)
        else:
            report = self._scanner.scan(as_chat, policy)
        params = [param for param, _ in texts]
        _enforce(report, policy, params)
        notes = {name: report.counts(name) for name in ("pii", "secrets") if report.counts(name)}
        return PromptScreening(_masked(request, texts, report, policy), notes)


def _enforce(report: ScanReport, policy: Policy, params: list[str]) -> None:
    for detector, detector_policy in (("secrets", policy.secrets), ("pii", policy.pii)):
        for found in report.texts:
            spans = found.secrets if detector == "secrets" else found.pii
            kinds = sorted({s.kind for s in spans if detector_policy.action_for(s.kind) == "block"})
            if kinds:
                param = params[found.location.message]
                raise ContentPolicyError(
                    f"Request blocked by the {_DETECTORS[detector]} policy: {', '.join(kinds)} found in {param}.",
                    param=param,
                )
    location = report.injection_location
    if (
        policy.injection.action == "block"
        and location is not None
        and report.injection_score >= policy.injection.threshold
    ):
        param = params[location.message]
        categories = ", ".join(sorted({s.category for s in report.injection_signals}))
        raise ContentPolicyError(
            f"Request blocked by the prompt-injection policy: score {report.injection_score:.2f} is at or "
            f"above the threshold {policy.injection.threshold:.2f} ({categories}) in {param}.",
            param=param,
        )


def _masked(
    request: ImageRequest, texts: list[tuple[str, str]], report: ScanReport, policy: Policy
) -> ImageRequest:
    masker = Masker(reserved_placeholders(text for _, text in texts))
    edited: dict[str, str] = {}
    for found in report.texts:
        secrets = [s for s in found.secrets if policy.secrets.action_for(s.kind) == "mask"]
        pii = [s for s in found.pii if policy.pii.action_for(s.kind) == "mask"]
        taken = [(s.start, s.end) for s in secrets]
        # Secrets first: a password inside a URL must not be half-masked as an "email".
        pii = [p for p in pii if not any(p.start < e and s < p.end for s, e in taken)]
        if secrets or pii:
            edited[texts[found.location.message][0]] = masker.apply(found.text, drop_overlaps(secrets + pii))
    if not edited:
        return request
    fields = dict(request.preset_fields)
    changes: dict[str, object] = {}
    for param, text in edited.items():
        if param.startswith("preset_fields."):
            fields[param.removeprefix("preset_fields.")] = text
        else:
            changes[param] = text
    if fields != request.preset_fields:
        changes["preset_fields"] = fields
    return msgspec.structs.replace(request, **changes)
