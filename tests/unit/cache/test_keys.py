"""The cache key covers every answer-changing field, normalized; delivery-only fields stay out."""

from __future__ import annotations

from typing import Any

import pytest

from alfred.cache.keys import exact_key, semantic_query, tenant_of
from tests.unit.cache.support import chat

TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}

# Each field that can change an answer, with a value that differs from the base request's.
ANSWER_CHANGING: dict[str, Any] = {
    "model": "other-group",
    "messages": [{"role": "user", "content": "What is the capital of Spain?"}],
    "system prompt": [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "What is the capital of France?"},
    ],
    "earlier turn": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "What is the capital of France?"},
    ],
    "tools": [TOOL],
    "tool_choice": "required",
    "parallel_tool_calls": False,
    "response_format": {"type": "json_object"},
    "seed": 42,
    "temperature": 0.5,
    "top_p": 0.9,
    "stop": ["\n"],
    "max_tokens": 64,
    "max_completion_tokens": 64,
    "n": 2,
    "presence_penalty": 0.5,
    "frequency_penalty": 0.5,
    "logit_bias": {"50256": -100},
    "logprobs": True,
    "top_logprobs": 3,
    "extra": {"reasoning_effort": "high"},  # an unknown field, passed through to the provider
}


def _variant(field: str, value: Any) -> dict[str, Any]:
    if field in ("messages", "system prompt", "earlier turn"):
        return {"messages": value}
    return {field: value}


@pytest.mark.parametrize("field", list(ANSWER_CHANGING))
def test_every_answer_changing_field_changes_the_key(field: str) -> None:
    base = chat()
    changed = chat(**_variant(field, ANSWER_CHANGING[field]))
    assert exact_key(base, "team:a") != exact_key(changed, "team:a")


def test_tenant_changes_the_key_and_shared_groups_share_one() -> None:
    request = chat()
    assert exact_key(request, tenant_of("a")) != exact_key(request, tenant_of("b"))
    assert tenant_of("a", shared=True) == tenant_of("b", shared=True)
    assert tenant_of(None, "u1") == "user:u1" and tenant_of(None, None, "k1") == "key:k1"
    assert tenant_of(None) == "anonymous"


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ({"stop": "END"}, {"stop": ["END"]}),
        ({"stop": ["a", "b"]}, {"stop": ["b", "a"]}),
        ({"temperature": 0}, {"temperature": 0.0}),
        ({"n": 1}, {}),
        ({"stream": True, "stream_options": {"include_usage": True}}, {}),
        ({"user": "someone"}, {}),
        ({"extra": {"metadata": {"trace": "x"}}}, {}),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "What is the capital of France?"}]}
                ]
            },
            {},
        ),
    ],
)
def test_equivalent_spellings_share_a_key(left: dict[str, Any], right: dict[str, Any]) -> None:
    assert exact_key(chat(**left), "t") == exact_key(chat(**right), "t")


def test_max_tokens_spellings_are_one_field() -> None:
    assert exact_key(chat(max_tokens=50), "t") == exact_key(chat(max_completion_tokens=50), "t")


def test_key_names_the_group_for_operators() -> None:
    assert exact_key(chat(), "t").startswith("gpt-test:")


def test_semantic_scope_covers_context_but_not_the_question() -> None:
    a = semantic_query(chat("What is the capital of France?"), "t")
    b = semantic_query(chat("What's the capital city of France?"), "t")
    assert a is not None and b is not None
    assert a.scope == b.scope and a.text != b.text
    with_system = semantic_query(
        chat(
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "What is the capital of France?"},
            ]
        ),
        "t",
    )
    assert with_system is not None and with_system.scope != a.scope
    other_tenant = semantic_query(chat("What is the capital of France?"), "u")
    assert other_tenant is not None and other_tenant.scope != a.scope
    hotter = semantic_query(chat("What is the capital of France?", temperature=0.7), "t")
    assert hotter is not None and hotter.scope != a.scope


def test_semantic_query_needs_a_plain_user_text_last() -> None:
    image = chat(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                ],
            }
        ]
    )
    assert semantic_query(image, "t") is None
    tool_turn = chat(
        messages=[
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        ]
    )
    assert semantic_query(tool_turn, "t") is None
    assert semantic_query(chat("   "), "t") is None
