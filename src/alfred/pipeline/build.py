"""Assembles the pipeline in the configured order from the stages the composition root built."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from alfred.pipeline.pipeline import Pipeline
from alfred.pipeline.stage import Next, Stage

# The seed's order (its outer Recover → RequestID → Logger → CORS are ASGI middleware in api/).
SEED_ORDER: tuple[str, ...] = (
    "rate_limit",
    "auth",
    "quota",
    "stream_limit",
    "safety",
    "metrics",
    "cache",
    "timeout",
)


class PipelineOrderError(ValueError):
    """The configured order names a stage that does not exist, or names one twice."""


def build_pipeline(order: Sequence[str], available: Mapping[str, Stage | None], handler: Next) -> Pipeline:
    """Chain the stages named in ``order``; a name mapped to ``None`` is a stage switched off."""
    unknown = [name for name in order if name not in available]
    if unknown:
        raise PipelineOrderError(
            f"unknown pipeline stage(s): {', '.join(unknown)}; known: {', '.join(sorted(available))}"
        )
    if len(set(order)) != len(order):
        raise PipelineOrderError("a pipeline stage is listed twice")
    stages = [stage for name in order if (stage := available[name]) is not None]
    return Pipeline(stages, handler)
