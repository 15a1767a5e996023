"""The labelled evaluation set: each detector must keep the precision and recall it reached.

Minimums are the figures measured when the set was written (docs/safety.md) less a small margin.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from alfred.safety.evaluation import evaluate, load
from alfred.safety.scanner import Scanner

DATA = Path(__file__).resolve().parents[2] / "data" / "safety_eval"
MINIMUMS = {  # detector: (precision, recall)
    "pii": (0.95, 0.97),
    "secrets": (0.95, 0.97),
    "injection": (0.92, 0.89),
}


@pytest.mark.parametrize("detector", sorted(MINIMUMS))
def test_detector_quality_on_the_evaluation_set(detector: str) -> None:
    items = load(DATA, detector)
    assert len(items) >= 60
    assert sum(i.label for i in items) >= 25 and sum(not i.label for i in items) >= 25
    metrics = evaluate(detector, items, Scanner())
    min_precision, min_recall = MINIMUMS[detector]
    errors = "\n".join(text for _, text in metrics.errors)
    assert metrics.precision >= min_precision, errors
    assert metrics.recall >= min_recall, errors


def test_templates_expand_reproducibly() -> None:
    first = [i.text for i in load(DATA, "secrets")]
    second = [i.text for i in load(DATA, "secrets")]
    assert first == second
    assert not any("{{" in text for text in first)
