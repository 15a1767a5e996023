"""The safety stage: scan the request, then block, mask (and restore in the answer) or log per policy.

Blocks raise ``ContentPolicyError`` (400 ``content_policy_violation``) naming the detector, the kinds
and where they were found, never the value. Findings go to ``call.notes["safety"]`` as kinds and
counts only, so the notes are safe to log in every mode, privacy mode included.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from msgspec import UNSET, structs

from alfred.errors import ContentPolicyError
from alfred.pipeline.call import Call, Result
from alfred.pipeline.stage import Next
from alfred.safety.findings import Span, drop_overlaps
from alfred.safety.masking import PLACEHOLDER, Masker, Restorer, reserved_placeholders
from alfred.safety.policy import Policy, PolicyBook
from alfred.safety.rewrite import masked_request
from alfred.safety.scanner import Location, Scanner, ScanReport, iter_texts
from alfred.safety.secrets import SecretRecognizer
from alfred.safety.settings import SafetySettings
from alfred.safety.streaming import RestoringStream
from alfred.schema import ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse

log = logging.getLogger("alfred.safety")

_DETECTOR_NAMES = {"pii": "PII", "secrets": "secrets", "injection": "prompt-injection"}


@dataclass(frozen=True, slots=True)
class SafetyBlock:
    """What an audit sink is told about a block: detector, kinds, where, and the score for injection."""

    detector: str  # pii | secrets | injection
    kinds: tuple[str, ...]
    param: str
    score: float | None = None


BlockHook = Callable[[Call, SafetyBlock], Awaitable[None]]


class SafetyStage:
    """Pipeline stage ``safety``: PII, secrets and prompt-injection policy for chat and embeddings."""

    name = "safety"

    def __init__(
        self,
        settings: SafetySettings,
        *,
        scanner: Scanner | None = None,
        on_block: BlockHook | None = None,
    ) -> None:
        self._settings = settings
        self._policies = PolicyBook(settings)
        self._scanner = scanner or Scanner(secrets=SecretRecognizer(entropy_margin=settings.entropy_margin))
        self._on_block = on_block

    async def __call__(self, call: Call, next: Next) -> Result:
        request = call.request
        if not self._settings.enabled or not isinstance(request, ChatRequest | EmbeddingRequest):
            return await next(call)
        policy = self._policies.for_caller(call.identity.team_id, call.identity.key_id)
        if policy.idle:
            return await next(call)
        started = time.perf_counter_ns()
        report = await self._scan(request, policy)
        notes: dict[str, Any] = {"scan_us": round((time.perf_counter_ns() - started) / 1000, 1)}
        call.notes["safety"] = notes
        if not report.texts and not report.injection_signals:
            return await next(call)
        _record(notes, report, policy)
        await self._enforce(call, report, policy, notes)
        restorer = self._mask(call, request, report, policy, notes)
        result = await next(call)
        if not restorer:
            return result
        if isinstance(result, ChatResponse):
            return _restore_response(result, restorer)
        if isinstance(result, EmbeddingResponse):
            return result
        return RestoringStream(result, restorer)

    async def _scan(self, request: ChatRequest | EmbeddingRequest, policy: Policy) -> ScanReport:
        limit = self._settings.offload_chars
        if limit and sum(len(text) for _, text, _ in iter_texts(request)) > limit:
            # Big prompts would hold the event loop for milliseconds; other requests must not wait.
            return await asyncio.to_thread(self._scanner.scan, request, policy)
        return self._scanner.scan(request, policy)

    async def _enforce(self, call: Call, report: ScanReport, policy: Policy, notes: dict[str, Any]) -> None:
        block: SafetyBlock | None = None
        for detector, detector_policy in (("secrets", policy.secrets), ("pii", policy.pii)):
            for found in report.texts:
                spans = found.secrets if detector == "secrets" else found.pii
                kinds = sorted({s.kind for s in spans if detector_policy.action_for(s.kind) == "block"})
                if kinds:
                    block = SafetyBlock(detector, tuple(kinds), found.location.param())
                    break
            if block is not None:
                break
        if (
            block is None
            and policy.injection.action == "block"
            and report.injection_score >= policy.injection.threshold
            and report.injection_location is not None
        ):
            categories = tuple(sorted({s.category for s in report.injection_signals}))
            block = SafetyBlock(
                "injection", categories, report.injection_location.param(), report.injection_score
            )
        if block is None:
            return
        notes["blocked"] = block.detector
        if self._on_block is not None:
            try:
                await self._on_block(call, block)
            except Exception:
                log.exception("safety audit hook failed", extra={"request_id": call.request_id})
        raise ContentPolicyError(_block_message(block, policy), param=block.param)

    def _mask(
        self,
        call: Call,
        request: ChatRequest | EmbeddingRequest,
        report: ScanReport,
        policy: Policy,
        notes: dict[str, Any],
    ) -> Restorer | None:
        edits: list[tuple[Location, str, list[Span]]] = []
        for found in report.texts:
            secrets = [s for s in found.secrets if policy.secrets.action_for(s.kind) == "mask"]
            pii = [s for s in found.pii if policy.pii.action_for(s.kind) == "mask"]
            if not secrets and not pii:
                continue
            # Secrets first: a password inside a URL must not be half-masked as an "email".
            taken = [(s.start, s.end) for s in secrets]
            pii = [p for p in pii if not any(p.start < e and s < p.end for s, e in taken)]
            edits.append((found.location, found.text, drop_overlaps(secrets + pii)))
        if not edits:
            return None
        masker = Masker(reserved_placeholders(text for _, text, _ in iter_texts(request)))
        call.request = masked_request(request, edits, masker)
        notes["masked"] = len(masker.originals)
        restorable = {
            placeholder: value
            for placeholder, value in masker.originals.items()
            if _restores(placeholder, policy)
        }
        return Restorer(restorable) if restorable else None


def _restores(placeholder: str, policy: Policy) -> bool:
    match = PLACEHOLDER.fullmatch(placeholder)
    kind = match.group(1) if match else ""
    return policy.secrets.restore if kind in policy.secret_kinds else policy.pii.restore


def _record(notes: dict[str, Any], report: ScanReport, policy: Policy) -> None:
    """Kinds and counts only: no values, no offsets, nothing a log reader could reassemble."""
    pii = report.counts("pii")
    secrets = report.counts("secrets")
    if pii:
        notes["pii"] = pii
        notes["pii_action"] = policy.pii.action
    if secrets:
        notes["secrets"] = secrets
        notes["secrets_action"] = policy.secrets.action
    if report.injection_signals:
        notes["injection"] = {
            "score": report.injection_score,
            "hit": report.injection_score >= policy.injection.threshold,
            "signals": sorted({s.rule for s in report.injection_signals}),
        }


def _block_message(block: SafetyBlock, policy: Policy) -> str:
    name = _DETECTOR_NAMES[block.detector]
    if block.detector == "injection":
        return (
            f"Request blocked by the {name} policy: score {block.score:.2f} is at or above the threshold "
            f"{policy.injection.threshold:.2f} ({', '.join(block.kinds)}) in {block.param}."
        )
    return f"Request blocked by the {name} policy: {', '.join(block.kinds)} found in {block.param}."


def _restore_response(response: ChatResponse, restorer: Restorer) -> ChatResponse:
    """A copy with placeholders restored: the original may be shared with a cache."""
    choices = []
    for choice in response.choices:
        message = choice.message
        content = restorer.restore(message.content) if message.content else message.content
        tool_calls = message.tool_calls
        if tool_calls is not UNSET and tool_calls:
            tool_calls = [
                structs.replace(
                    t,
                    function=structs.replace(
                        t.function, arguments=restorer.restore(t.function.arguments, json_string=True)
                    ),
                )
                for t in tool_calls
            ]
        choices.append(
            structs.replace(choice, message=structs.replace(message, content=content, tool_calls=tool_calls))
        )
    return structs.replace(response, choices=choices)
