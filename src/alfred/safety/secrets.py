"""Secrets recognizers: provider API keys, cloud credentials, tokens, private keys, high-entropy strings.

Prefixed credentials (``sk-``, ``AKIA``, ``ghp_``…) are found by patterns that start with their
literal prefix, so a prompt without any costs one substring-speed search per family. Unprefixed ones
(AWS secret keys, generic high-entropy strings) come from the long token runs of ``TextView.runs``
and must pass shape, character-class and entropy checks that hashes, UUIDs and identifiers fail.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
from dataclasses import dataclass

from alfred.safety.findings import Span, drop_overlaps
from alfred.safety.text import TextView, char_classes, shannon

SECRET_KINDS = (
    "PRIVATE_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_KEY",
    "OPENAI_KEY",
    "ANTHROPIC_KEY",
    "GITHUB_TOKEN",
    "SLACK_TOKEN",
    "GOOGLE_API_KEY",
    "STRIPE_KEY",
    "JWT",
    "URL_PASSWORD",
    "HIGH_ENTROPY",
)


@dataclass(frozen=True, slots=True)
class _Prefixed:
    kind: str
    # Starts with a literal, so the regex engine finds candidates at substring-search speed.
    pattern: re.Pattern[str]
    mixed: bool  # the random part must mix upper case, lower case and digits (real keys always do)
    fixed_length: bool = False  # a longer token run around the match is something else


_RULES = (
    _Prefixed("ANTHROPIC_KEY", re.compile(r"sk-ant-[a-z]{2,8}\d{2}-([A-Za-z0-9_-]{32,})"), True),
    _Prefixed(
        "OPENAI_KEY", re.compile(r"sk-(?!ant-)(?:proj-|svcacct-|admin-|None-)?([A-Za-z0-9_-]{32,})"), True
    ),
    _Prefixed("AWS_ACCESS_KEY_ID", re.compile(r"A(?:KIA|SIA|BIA|CCA|3T[A-Z0-9])([A-Z0-9]{16})"), False, True),
    _Prefixed(
        "GITHUB_TOKEN",
        re.compile(r"g(?:h[pousr]_([A-Za-z0-9]{36,251})|ithub_pat_([A-Za-z0-9]{22}_[A-Za-z0-9]{59}))"),
        True,
    ),
    _Prefixed(
        "SLACK_TOKEN",
        re.compile(r"x(?:ox[abeoprs]-(\d{6,}-[A-Za-z0-9-]{8,})|app-\d-([A-Z0-9]{8,}-\d{6,}-[a-f0-9]{32,}))"),
        False,
    ),
    _Prefixed(
        "SLACK_TOKEN",
        re.compile(r"hooks\.slack\.com/services/(T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{20,})"),
        False,
    ),
    _Prefixed("GOOGLE_API_KEY", re.compile(r"AIza([0-9A-Za-z_-]{35})"), False, True),
    _Prefixed("STRIPE_KEY", re.compile(r"_live_([0-9A-Za-z]{20,})"), True),
    _Prefixed("JWT", re.compile(r"(eyJ[A-Za-z0-9_-]{8,})\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}"), False),
)

_PRIVATE_KEY = re.compile(
    r"-----BEGIN ((?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP |SSH2 |ED25519 )?PRIVATE KEY(?: BLOCK)?)-----"
)
_PEM_BODY = re.compile(
    r"(?:[A-Za-z][A-Za-z-]*: [^\n]*\n|\s)*([A-Za-z0-9+/=\s\\n]{16,}?)(-----END [A-Z0-9 ]+-----|$)"
)
_PEM_BLOCK = re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|$)", re.DOTALL)
_URL_PASSWORD = re.compile(r"://([^\s:/@]{0,64}):([^\s:/@]{3,128})@[^\s/@]{2,}")
_PLACEHOLDER = re.compile(
    r"^(?:[\[<{(].*[\]>})]|\$.*|%.*|\*+|x+|\.+|password|passwd|pass|pwd|secret|changeme|your[_-]?\w*|redacted)$",
    re.IGNORECASE,
)
_RANDOM_ENTROPY = (
    (20, 4.03), (24, 4.24), (28, 4.40), (32, 4.55), (40, 4.76), (48, 4.93), (64, 5.16), (96, 5.42), (128, 5.56),
)  # fmt: skip
_AWS_WORDS = ("aws", "secret_access", "secret access", "secretaccess", "akia", "asia")
_HEX_OR_DASH = frozenset("0123456789abcdefABCDEF-")
_SRI_PREFIXES = ("sha1-", "sha256-", "sha384-", "sha512-")
_TOKEN_EDGE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


class SecretRecognizer:
    """Finds credential spans in one text."""

    def __init__(self, entropy_margin: float = 0.4, min_entropy_length: int = 24) -> None:
        self._entropy_margin = entropy_margin
        self._min_length = min_entropy_length

    def find(self, view: TextView, kinds: frozenset[str] = frozenset(SECRET_KINDS)) -> list[Span]:
        text = view.text
        spans: list[Span] = []
        if "PRIVATE_KEY" in kinds and "-----BEGIN" in text:
            self._private_keys(text, spans)
        for rule in _RULES:
            if rule.kind in kinds:
                self._prefixed(rule, text, spans)
        if "URL_PASSWORD" in kinds and "://" in text:
            self._url_passwords(text, spans)
        want_aws = "AWS_SECRET_KEY" in kinds
        want_entropy = "HIGH_ENTROPY" in kinds
        if want_aws or want_entropy:
            runs = view.runs()
            if runs:
                # Public keys and certificates are base64 too, and not secret.
                covered = [(s.start, s.end) for s in spans] + _pem_blocks(text)
                for start, end in runs:
                    if any(s < end and start < e for s, e in covered):
                        continue
                    found = self._unprefixed(view, start, end, want_aws, want_entropy)
                    if found is not None:
                        spans.append(found)
        return drop_overlaps(spans) if len(spans) > 1 else spans

    def _private_keys(self, text: str, spans: list[Span]) -> None:
        for match in _PRIVATE_KEY.finditer(text):
            body = _PEM_BODY.match(text, match.end())
            if body is None or sum(c.isalnum() for c in body.group(1)) < 16:
                continue  # a header around "..." in documentation carries no key
            spans.append(Span("PRIVATE_KEY", match.start(), body.end()))

    def _prefixed(self, rule: _Prefixed, text: str, spans: list[Span]) -> None:
        for match in rule.pattern.finditer(text):
            start, end = match.span()
            if rule.kind == "STRIPE_KEY":
                if text[max(0, start - 2) : start] not in ("sk", "rk"):
                    continue
                start -= 2
            if start and text[start - 1] in _TOKEN_EDGE:
                continue
            if rule.fixed_length and end < len(text) and text[end] in _TOKEN_EDGE:
                continue
            secret = next((g for g in match.groups() if g), match.group())
            if rule.mixed and not all(char_classes(secret)):
                continue
            if _looks_like_filler(secret):
                continue
            if rule.kind == "JWT" and not _jwt_header_ok(match.group(1)):
                continue
            spans.append(Span(rule.kind, start, end))

    def _url_passwords(self, text: str, spans: list[Span]) -> None:
        for match in _URL_PASSWORD.finditer(text):
            if _PLACEHOLDER.match(match.group(2)):
                continue
            spans.append(Span("URL_PASSWORD", match.start(2), match.end(2)))

    def _unprefixed(
        self, view: TextView, start: int, end: int, want_aws: bool, want_entropy: bool
    ) -> Span | None:
        text = view.text
        # Trim the padding and separators a run can carry at its edges ("key=abc…", "…==").
        while start < end and text[start] in "+/=-_":
            start += 1
        token = text[start:end]
        if "=" in token.rstrip("="):
            cut = token.rindex("=", 0, len(token.rstrip("="))) + 1
            token, start = token[cut:], start + cut
        length = len(token.rstrip("="))
        if length < self._min_length or length > 128:
            return None  # longer runs are encoded data (images, files), not credentials
        if _HEX_OR_DASH.issuperset(token):
            return None  # hashes, git SHAs, UUIDs
        lowered = view.lowered
        if token.startswith(_SRI_PREFIXES) or lowered[max(0, start - 8) : start].endswith("base64,"):
            return None  # subresource-integrity digests and data: URIs
        upper, lower, digit = char_classes(token)
        if not (upper and lower):
            return None
        entropy = shannon(token)
        if (
            want_aws
            and len(token) == 40
            and "_" not in token
            and "-" not in token
            and entropy >= 3.8
            and any(w in lowered[max(0, start - 120) : start] for w in _AWS_WORDS)
        ):
            return Span("AWS_SECRET_KEY", start, start + len(token))
        if not want_entropy or not digit or ("/" in token.strip("/") and token.count("/") > 2):
            return None  # paths and URLs have slashes between words
        if entropy < random_entropy(length) - self._entropy_margin or _decodes_to_text(token):
            return None
        return Span("HIGH_ENTROPY", start, start + len(token))


def random_entropy(length: int) -> float:
    """Mean Shannon entropy (bits/char) of a random base62 string of ``length`` characters.

    A short string cannot show all 62 symbols, so a fixed threshold either misses short keys or
    flags long identifiers; comparing with what chance gives at the same length does neither.
    Measured over 3,000 draws per length and interpolated between.
    """
    points = _RANDOM_ENTROPY
    if length <= points[0][0]:
        return points[0][1]
    for (n0, e0), (n1, e1) in itertools.pairwise(points):
        if length <= n1:
            return e0 + (e1 - e0) * (length - n0) / (n1 - n0)
    return points[-1][1]


def _pem_blocks(text: str) -> list[tuple[int, int]]:
    if "-----BEGIN" not in text:
        return []
    return [m.span() for m in _PEM_BLOCK.finditer(text)]


def _looks_like_filler(secret: str) -> bool:
    """Documentation placeholders: sk-xxxx…, ghp_XXXX…, AKIA0000…, a repeated or sequential run."""
    stripped = secret.strip("_-")
    return len(set(stripped.lower())) <= 3 or stripped.lower().startswith(
        ("xxxx", "your", "example", "0123456789")
    )


def _jwt_header_ok(header: str) -> bool:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (ValueError, binascii.Error):
        return False
    return isinstance(decoded, dict) and ("alg" in decoded or "typ" in decoded)


def _decodes_to_text(token: str) -> bool:
    """True when the token is base64 of readable text: encoded data, not a random credential."""
    if len(token) % 4 == 1:
        return False
    try:
        raw = base64.b64decode(
            token + "=" * (-len(token) % 4), altchars=b"-_" if "-" in token or "_" in token else None
        )
    except (ValueError, binascii.Error):
        return False
    if len(raw) < 12:
        return False
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in raw)
    return printable / len(raw) > 0.95
