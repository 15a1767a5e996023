"""The request bodies every target gets: small, 2 KB (for the safety scan), cache-busting, streaming."""

from __future__ import annotations

import json

from bench.wrk import COUNTER

MODEL = "gpt-4o-mini"
STREAM_MODEL = "stream-mock"
STREAM_WORDS = 48  # the mock's role chunk + 48 word chunks + the finish chunk = 50 chunks

_PARAGRAPH = (
    "Our quarterly planning meeting covered the migration of the billing service to the new cluster, "
    "the on-call rotation for the holidays, and the budget for the observability tooling. The team "
    "agreed to finish the database upgrade before the end of the month and to review the incident "
    "reports every Friday. Please summarise the open questions and the owners of each action item. "
)


def chat(content: str, *, model: str = MODEL, stream: bool = False) -> str:
    body: dict[str, object] = {
        "model": model,
        "messages": [{"role": "user", "content": content}],
        "temperature": 0,
    }
    if stream:
        body["stream"] = True
    return json.dumps(body, separators=(",", ":"))


def prompt_2kb() -> str:
    """About 2 KB of ordinary meeting notes with one contact address, as a scanner meets them."""
    text = "Contact: jane.doe@example.com. "
    while len(text) < 2048:
        text += _PARAGRAPH
    return text[:2048]


SMALL = chat("Say hello in one short sentence.")
LARGE = chat(prompt_2kb())
UNIQUE = chat(f"Question {COUNTER}: which river flows through the city with this number?")
STREAM = chat(f"mock:words={STREAM_WORDS}", model=STREAM_MODEL, stream=True)
