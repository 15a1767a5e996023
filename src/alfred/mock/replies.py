"""Deterministic replies, shared by every provider's mock: the same turn always gets the same answer.

Each provider mock turns its wire request into a ``MockTurn`` and renders the ``MockReply`` back in
its own format. Tokens are whitespace-separated words, so usage follows the request exactly.
A user message containing ``mock:words=N`` gets a reply of exactly N words (for stream benchmarks).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_WORDS = re.compile(r"mock:words=(\d{1,6})")


@dataclass
class MockTool:
    name: str
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class MockTurn:
    """What a provider mock needs to know of a request, whatever its wire format."""

    provider: str
    model: str
    messages: list[tuple[str, str]]  # (role, text); tool results use role "tool"
    tools: list[MockTool] = field(default_factory=list)
    tool_choice: str | None = None  # None/"auto" | "none" | "required" | a tool name
    max_tokens: int | None = None
    json_schema: dict[str, Any] | None = None
    json_mode: bool = False
    stop: list[str] = field(default_factory=list)


@dataclass
class MockToolCall:
    id: str
    name: str
    arguments: dict[str, Any]

    def arguments_json(self) -> str:
        return json.dumps(self.arguments, separators=(",", ":"))


@dataclass
class MockReply:
    text: str
    tool_calls: list[MockToolCall]
    finish_reason: str  # "stop" | "length" | "tool_calls"
    prompt_tokens: int
    completion_tokens: int

    def words(self) -> list[str]:
        """The text as stream pieces: each word with its following space."""
        parts = self.text.split(" ")
        return [p + " " for p in parts[:-1]] + [parts[-1]] if self.text else []


def count_tokens(text: str) -> int:
    return len(text.split())


def prompt_tokens(turn: MockTurn) -> int:
    total = sum(count_tokens(text) + 1 for _, text in turn.messages)
    for tool in turn.tools:
        total += 1 + count_tokens(json.dumps(tool.parameters))
    return max(total, 1)


def _example(schema: dict[str, Any], name: str) -> Any:
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object":
        props = schema.get("properties") or {}
        return {key: _example(sub, key) for key, sub in props.items()}
    if kind == "array":
        return [_example(schema.get("items") or {}, name)]
    if kind in ("integer", "number"):
        return 42
    if kind == "boolean":
        return True
    if name in ("location", "city"):
        return "Paris"
    return f"example {name}"


def reply_for(turn: MockTurn) -> MockReply:
    ptoks = prompt_tokens(turn)
    last_role, last_text = turn.messages[-1] if turn.messages else ("user", "")
    wants_tool = turn.tools and turn.tool_choice != "none" and last_role != "tool"
    if wants_tool:
        chosen = turn.tools[0]
        if turn.tool_choice not in (None, "auto", "required", "any"):
            chosen = next((t for t in turn.tools if t.name == turn.tool_choice), chosen)
        args = _example({"type": "object", **chosen.parameters}, chosen.name)
        call = MockToolCall(
            id=f"call_mock_{abs(hash_text(chosen.name + last_text)) % 10**8:08d}",
            name=chosen.name,
            arguments=args,
        )
        return MockReply("", [call], "tool_calls", ptoks, 1 + count_tokens(call.arguments_json()))
    user_text = last_text
    match = _WORDS.search(user_text)
    if match:
        n = int(match.group(1))
        text = " ".join(f"w{i}" for i in range(n))
    elif last_role == "tool":
        text = f"The tool returned: {last_text[:200]}"
    else:
        snippet = " ".join(user_text.split()[:40])
        text = f"Mock reply from {turn.provider} model {turn.model}. You said: {snippet}"
    if turn.json_schema is not None:
        text = json.dumps(_example(turn.json_schema, "value"), separators=(", ", ": "))
    elif turn.json_mode:
        text = json.dumps({"reply": text})
    finish = "stop"
    for stop in turn.stop:
        if stop and stop in text:
            text = text[: text.index(stop)]
    words = text.split(" ") if text else []
    if turn.max_tokens is not None and len(words) > turn.max_tokens:
        words = words[: turn.max_tokens]
        text = " ".join(words)
        finish = "length"
    return MockReply(text, [], finish, ptoks, count_tokens(text))


def hash_text(text: str) -> int:
    """A stable hash (Python's ``hash`` is salted per process)."""
    value = 2166136261
    for byte in text.encode("utf-8"):
        value = ((value ^ byte) * 16777619) & 0xFFFFFFFF
    return value


def embedding_for(text: str, dimensions: int = 16) -> list[float]:
    """A deterministic unit-length vector derived from the text."""
    values = []
    for i in range(dimensions):
        h = hash_text(f"{i}:{text}")
        values.append((h / 0xFFFFFFFF) * 2 - 1)
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return [round(v / norm, 6) for v in values]
