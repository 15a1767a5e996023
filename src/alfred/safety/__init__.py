"""The safety pipeline: PII, secrets and prompt-injection detection, masking and per-team policy.

``Scanner`` scans a whole request; ``PolicyBook`` resolves a caller's policy from ``SafetySettings``;
``Masker``/``Restorer`` swap values for typed placeholders and back. The pipeline stage that applies
all of this lives in ``alfred.pipeline.safety``.

The names load on first use (``alfred.lazy``): the config imports ``alfred.safety.settings``, and
that must not load every detector into each start of the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alfred.lazy import lazy_exports

if TYPE_CHECKING:
    from alfred.safety.findings import Signal, Span
    from alfred.safety.injection import InjectionResult, InjectionScorer
    from alfred.safety.masking import Masker, Restorer, StreamRestorer
    from alfred.safety.pii import PII_KINDS, PiiRecognizer
    from alfred.safety.policy import DetectorPolicy, Policy, PolicyBook
    from alfred.safety.scanner import Location, Scanner, ScanReport, TextFindings
    from alfred.safety.secrets import SECRET_KINDS, SecretRecognizer
    from alfred.safety.settings import PolicyOverride, SafetySettings
    from alfred.safety.streaming import RestoringStream

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Signal": "findings",
        "Span": "findings",
        "InjectionResult": "injection",
        "InjectionScorer": "injection",
        "Masker": "masking",
        "Restorer": "masking",
        "StreamRestorer": "masking",
        "PII_KINDS": "pii",
        "PiiRecognizer": "pii",
        "DetectorPolicy": "policy",
        "Policy": "policy",
        "PolicyBook": "policy",
        "Location": "scanner",
        "Scanner": "scanner",
        "ScanReport": "scanner",
        "TextFindings": "scanner",
        "SECRET_KINDS": "secrets",  # nosec B105 - a module name, not a password
        "SecretRecognizer": "secrets",
        "PolicyOverride": "settings",
        "SafetySettings": "settings",
        "RestoringStream": "streaming",
    },
)

__all__ = [
    "PII_KINDS",
    "SECRET_KINDS",
    "DetectorPolicy",
    "InjectionResult",
    "InjectionScorer",
    "Location",
    "Masker",
    "PiiRecognizer",
    "Policy",
    "PolicyBook",
    "PolicyOverride",
    "Restorer",
    "RestoringStream",
    "SafetySettings",
    "ScanReport",
    "Scanner",
    "SecretRecognizer",
    "Signal",
    "Span",
    "StreamRestorer",
    "TextFindings",
]
