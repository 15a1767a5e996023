"""Precision and recall of each detector on the labelled evaluation set (tests/data/safety_eval/).

Usage: python -m alfred.safety.evaluation [DIR] [--threshold 0.7] [--errors] [--json]

Each ``<detector>.jsonl`` line is ``{"text": …, "label": true|false, "kinds": [...], "role": …,
"note": …}``. Secrets positives are written as templates (``{{alnum:40}}``, ``{{jwt}}``, ``{{pem:6}}``…)
expanded here with a generator seeded by file and line, so the set is reproducible and the repository
holds nothing that a secret scanner would take for a live credential.

Counting is per item: a positive is found when every expected kind is reported (injection: when the
score reaches the threshold); a negative is a false positive when anything at all is reported.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import re
import string
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from alfred.safety.policy import DetectorPolicy, Policy
from alfred.safety.scanner import Scanner

DETECTORS = ("pii", "secrets", "injection")
_TEMPLATE = re.compile(r"\{\{(\w+)(?::(\d+))?\}\}")
_ALPHABETS = MappingProxyType(
    {
        "alnum": string.ascii_letters + string.digits,
        "upnum": string.ascii_uppercase + string.digits,
        "num": string.digits,
        "hex": "0123456789abcdef",
        "b64": string.ascii_letters + string.digits + "+/",
        "b64url": string.ascii_letters + string.digits + "-_",
    }
)


@dataclass(frozen=True, slots=True)
class Item:
    """One labelled example."""

    text: str
    label: bool
    kinds: tuple[str, ...] = ()
    role: str = "user"
    note: str = ""


@dataclass(slots=True)
class Metrics:
    """Confusion counts for one detector, and the items it got wrong (by line number)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "items": self.tp + self.fp + self.fn + self.tn,
            "positives": self.tp + self.fn,
            "negatives": self.fp + self.tn,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
        }


def expand(text: str, rng: random.Random) -> str:
    """Fill the templates of one item with random but reproducible values."""

    def fill(match: re.Match[str]) -> str:
        kind, size = match.group(1), int(match.group(2) or 0)
        if kind in _ALPHABETS:
            alphabet = _ALPHABETS[kind]
            while True:
                value = "".join(rng.choice(alphabet) for _ in range(size))
                # Keys mix classes; a draw without a digit or without a case would be a weak fixture.
                if (
                    kind not in ("alnum", "b64", "b64url")
                    or size < 12
                    or (
                        any(c.isdigit() for c in value)
                        and any(c.islower() for c in value)
                        and any(c.isupper() for c in value)
                    )
                ):
                    return value
        if kind == "pem":
            raw = bytes(rng.randrange(256) for _ in range(48 * max(size, 1)))
            encoded = base64.b64encode(raw).decode()
            return "\n".join(encoded[i : i + 64] for i in range(0, len(encoded), 64))
        if kind == "jwt":
            header = _b64url(b'{"alg":"HS256","typ":"JWT"}')
            claims = _b64url(
                json.dumps(
                    {"sub": str(rng.randrange(10**9)), "iat": 1700000000 + rng.randrange(10**6)}
                ).encode()
            )
            signature = _b64url(bytes(rng.randrange(256) for _ in range(32)))
            return f"{header}.{claims}.{signature}"
        raise ValueError(f"unknown template {{{{{kind}}}}}")

    return _TEMPLATE.sub(fill, text)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def load(directory: Path, detector: str) -> list[Item]:
    items = []
    path = directory / f"{detector}.jsonl"
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        raw = json.loads(line)
        rng = random.Random(f"{detector}:{number}")  # noqa: S311  # nosec B311 - reproducible fixtures, not crypto
        items.append(
            Item(
                text=expand(raw["text"], rng),
                label=bool(raw["label"]),
                kinds=tuple(raw.get("kinds", ())),
                role=raw.get("role", "user"),
                note=raw.get("note", ""),
            )
        )
    return items


def evaluation_policy(threshold: float) -> Policy:
    """Every detector on, every kind reported, nothing blocked: the evaluation only observes."""
    return Policy.build(
        DetectorPolicy("log"),
        DetectorPolicy("log"),
        DetectorPolicy("log", threshold=threshold),
        scan_system=True,
    )


def evaluate(detector: str, items: list[Item], scanner: Scanner, threshold: float = 0.7) -> Metrics:
    policy = evaluation_policy(threshold)
    metrics = Metrics()
    for number, item in enumerate(items, start=1):
        report = scanner.scan_text(item.text, policy, role=item.role)
        if detector == "injection":
            predicted = report.injection_score >= threshold
            found_all = predicted
            detail = f"score {report.injection_score:.2f} {[s.rule for s in report.injection_signals]}"
        else:
            kinds = set(report.counts(detector))
            predicted = bool(kinds)
            found_all = bool(kinds) and set(item.kinds) <= kinds
            detail = f"found {sorted(kinds)} expected {list(item.kinds)}"
        if item.label and found_all:
            metrics.tp += 1
        elif item.label:
            metrics.fn += 1
            metrics.errors.append((number, f"FN {detail}: {item.note or item.text[:80]!r}"))
        elif predicted:
            metrics.fp += 1
            metrics.errors.append((number, f"FP {detail}: {item.note or item.text[:80]!r}"))
        else:
            metrics.tn += 1
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Precision/recall of the safety detectors on the eval set.")
    parser.add_argument("directory", nargs="?", default="tests/data/safety_eval")
    parser.add_argument("--threshold", type=float, default=0.7, help="injection score threshold")
    parser.add_argument("--errors", action="store_true", help="list the items each detector got wrong")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    scanner = Scanner()
    results: dict[str, Metrics] = {}
    for detector in DETECTORS:
        results[detector] = evaluate(detector, load(Path(args.directory), detector), scanner, args.threshold)
    if args.json:
        print(json.dumps({name: m.as_dict() for name, m in results.items()}, indent=2))
        return 0
    print("| detector | items | positives | hard negatives | precision | recall |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, m in results.items():
        d = m.as_dict()
        print(
            f"| {name} | {d['items']} | {d['positives']} | {d['negatives']} | {m.precision:.3f} | {m.recall:.3f} |"
        )
    if args.errors:
        for name, m in results.items():
            for number, text in m.errors:
                print(f"{name}.jsonl:{number}: {text}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
