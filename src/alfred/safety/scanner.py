"""One entry point that scans all of a request's text: every message's text parts, tool results,
tool-call arguments and embedding inputs, each wrapped once in a ``TextView`` whose derived forms the three detectors share.

Which detectors run, and for which kinds, comes from the caller's policy: a kind set to ``off`` is
never searched for, so a policy that only blocks secrets pays only for the secrets scan.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from alfred.safety.findings import Signal, Span
from alfred.safety.injection import InjectionScorer
from alfred.safety.pii import PiiRecognizer
from alfred.safety.policy import Policy
from alfred.safety.secrets import SecretRecognizer
from alfred.safety.text import TextView
from alfred.schema import ChatRequest, EmbeddingRequest, Message

# Roles whose text may carry an injection: what users type and what tools bring back from outside.
_UNTRUSTED_ROLES = frozenset({"user", "tool", "function"})
_TRUSTED_ROLES = frozenset({"system", "developer"})


@dataclass(frozen=True, slots=True)
class Location:
    """Where a text sits in the request, as an OpenAI ``param`` path."""

    message: int = -1
    part: int = -1
    tool_call: int = -1
    input: int = -1

    def param(self) -> str:
        if self.input >= 0:
            return f"input[{self.input}]"
        if self.message < 0:
            return "input"
        base = f"messages[{self.message}]"
        if self.tool_call >= 0:
            return f"{base}.tool_calls[{self.tool_call}].function.arguments"
        if self.part >= 0:
            return f"{base}.content[{self.part}].text"
        return f"{base}.content"


@dataclass(slots=True)
class TextFindings:
    """The PII and secrets spans found in one text."""

    location: Location
    text: str
    pii: list[Span] = field(default_factory=list)
    secrets: list[Span] = field(default_factory=list)


@dataclass(slots=True)
class ScanReport:
    """Everything one scan found; values are reachable only through ``texts`` (never logged)."""

    texts: list[TextFindings] = field(default_factory=list)
    injection_score: float = 0.0
    injection_signals: tuple[Signal, ...] = ()
    injection_location: Location | None = None
    chars: int = 0

    def counts(self, detector: str) -> dict[str, int]:
        """Kind → number of findings, for ``pii`` or ``secrets``."""
        counter: Counter[str] = Counter()
        for found in self.texts:
            counter.update(s.kind for s in (found.pii if detector == "pii" else found.secrets))
        return dict(counter)


class Scanner:
    """Runs the detectors a policy asks for over every text of a request."""

    def __init__(
        self,
        pii: PiiRecognizer | None = None,
        secrets: SecretRecognizer | None = None,
        injection: InjectionScorer | None = None,
    ) -> None:
        self._pii = pii or PiiRecognizer()
        self._secrets = secrets or SecretRecognizer()
        self._injection = injection or InjectionScorer()

    def scan(self, request: ChatRequest | EmbeddingRequest, policy: Policy) -> ScanReport:
        report = ScanReport()
        pii_kinds, secret_kinds = policy.pii_kinds, policy.secret_kinds
        score_injection = policy.injection.action != "off"
        for location, text, role in iter_texts(request):
            if not text:
                continue
            report.chars += len(text)
            view = TextView(text)
            found = TextFindings(location, text)
            if pii_kinds:
                found.pii = self._pii.find(view, pii_kinds)
            if secret_kinds:
                found.secrets = self._secrets.find(view, secret_kinds)
            if found.pii or found.secrets:
                report.texts.append(found)
            if (
                score_injection
                and location.tool_call < 0
                and (role in _UNTRUSTED_ROLES or (policy.scan_system and role in _TRUSTED_ROLES))
            ):
                result = self._injection.score(view)
                if result.score > report.injection_score:
                    report.injection_score = result.score
                    report.injection_signals = result.signals
                    report.injection_location = location
        return report

    def scan_text(self, text: str, policy: Policy, role: str = "user") -> ScanReport:
        """Scan one loose text as if it were a single message (used by the evaluation and benchmarks)."""
        return self.scan(ChatRequest(model="-", messages=[Message(role=role, content=text)]), policy)


def iter_texts(request: ChatRequest | EmbeddingRequest) -> Iterator[tuple[Location, str, str]]:
    """(location, text, role) for every piece of text the provider would see."""
    if isinstance(request, EmbeddingRequest):
        if isinstance(request.input, str):
            yield Location(), request.input, "user"
            return
        for index, item in enumerate(request.input):
            if isinstance(item, str):
                yield Location(input=index), item, "user"
        return
    for m_index, message in enumerate(request.messages):
        content = message.content
        if isinstance(content, str):
            yield Location(message=m_index), content, message.role
        elif content:
            for p_index, part in enumerate(content):
                if part.type == "text" and part.text:
                    yield Location(message=m_index, part=p_index), part.text, message.role
        for t_index, tool_call in enumerate(message.tool_calls or ()):
            yield Location(message=m_index, tool_call=t_index), tool_call.function.arguments, message.role
