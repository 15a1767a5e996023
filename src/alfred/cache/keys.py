"""Cache keys: a hash of every request field that can change the answer, scoped to a tenant.

Two requests share an exact-cache key only when the same model group would see the same
conversation (system prompt included) with the same tools, tool choice, response format, seed,
sampling parameters, stop sequences, output limit, choice count and unknown pass-through fields.
Fields that only change the delivery (``stream``, ``stream_options``, ``user``, ``metadata``) are
left out, so a streamed repeat hits what a JSON call stored. Values are normalized first: ``stop:
"x"`` equals ``stop: ["x"]``, ``max_tokens`` equals ``max_completion_tokens``, ``0`` equals ``0.0``,
a lone text part equals a plain string, and dict keys are sorted.

The semantic cache uses the same normalization, split differently: its *scope* hashes everything
except the last user turn, whose text is what gets embedded.

Both start ``<group>:g<generation>:``. The generation is the group's flush counter
(``generations.py``): a flush bumps it, so every older key of the group stops matching at once, in
every process, and the old entries age out. Keeping group and generation readable lets a process
count its live entries per group without a second index.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import msgspec

from alfred.schema import ChatRequest, Message

# Unknown fields that change who is billed or how the answer is delivered, never the answer itself.
DELIVERY_ONLY_EXTRA = frozenset(
    {"metadata", "store", "service_tier", "user", "safety_identifier", "prompt_cache_key", "stream"}
)
KEY_VERSION = "v1"  # bump when the normalization changes, so old entries stop matching

_encoder = msgspec.json.Encoder(order="sorted")


def tenant_of(
    team_id: str | None, user_id: str | None = None, key_id: str | None = None, *, shared: bool = False
) -> str:
    """The cache's privacy boundary: the caller's team, else user, else key; "*" for shared groups."""
    if shared:
        return "*"
    if team_id:
        return "team:" + team_id
    if user_id:
        return "user:" + user_id
    if key_id:
        return "key:" + key_id
    return "anonymous"


def _number(value: float | None) -> float | None:
    return None if value is None else float(value)


def _content(message: Message) -> Any:
    content = message.content
    if isinstance(content, list):
        parts = msgspec.to_builtins(content)
        if len(parts) == 1 and parts[0].get("type") == "text" and set(parts[0]) <= {"type", "text"}:
            return parts[0].get("text") or ""
        return parts
    return content


def _message(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": _content(message)}
    if message.name is not None:
        out["name"] = message.name
    if message.tool_calls:
        out["tool_calls"] = msgspec.to_builtins(message.tool_calls)
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    if message.refusal is not None:
        out["refusal"] = message.refusal
    return out


def answer_parameters(request: ChatRequest) -> dict[str, Any]:
    """Every answer-changing field except the messages, normalized."""
    params: dict[str, Any] = {
        "temperature": _number(request.temperature),
        "top_p": _number(request.top_p),
        "n": request.n if request.n not in (None, 1) else None,
        "stop": sorted(request.stop_list()) or None,
        "max_tokens": request.output_limit(),
        "tools": msgspec.to_builtins(request.tools) if request.tools else None,
        "tool_choice": request.tool_choice,
        "parallel_tool_calls": request.parallel_tool_calls,
        "response_format": request.response_format,
        "seed": request.seed,
        "presence_penalty": _number(request.presence_penalty),
        "frequency_penalty": _number(request.frequency_penalty),
        "logit_bias": request.logit_bias,
        "logprobs": request.logprobs,
        "top_logprobs": request.top_logprobs,
    }
    extra = {k: v for k, v in request.extra.items() if k not in DELIVERY_ONLY_EXTRA}
    if extra:
        params["extra"] = extra
    return {k: v for k, v in params.items() if v is not None}


def _digest(*parts: Any) -> str:
    return hashlib.sha256(_encoder.encode(parts)).hexdigest()[:40]


def _prefix(group: str, generation: int) -> str:
    return f"{group}:g{generation}:"


def group_of(key: str) -> tuple[str, int] | None:
    """The (group, generation) an exact key or a semantic scope belongs to; None for other keys."""
    group, generation, digest = _split(key)
    if digest is None or not generation.startswith("g") or not generation[1:].isdigit():
        return None
    return group, int(generation[1:])


def _split(key: str) -> tuple[str, str, str | None]:
    # Split from the right: a group name may itself contain colons, the generation and hash never do.
    parts = key.rsplit(":", 2)
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else (key, "", None)


def exact_key(request: ChatRequest, tenant: str, generation: int = 0) -> str:
    """The exact-cache key: ``<group>:g<generation>:<hash>``; group and generation stay readable."""
    messages = [_message(m) for m in request.messages]
    digest = _digest(KEY_VERSION, tenant, request.model, answer_parameters(request), messages)
    return _prefix(request.model, generation) + digest


@dataclass(frozen=True, slots=True)
class SemanticQuery:
    """What the semantic cache embeds (the last user turn's text) and where it may search (scope)."""

    scope: str
    text: str


def semantic_query(request: ChatRequest, tenant: str, generation: int = 0) -> SemanticQuery | None:
    """Split a request for the semantic cache; None when its last turn is not plain user text."""
    if not request.messages:
        return None
    last = request.messages[-1]
    if last.role != "user" or last.name is not None:
        return None
    content = _content(last)
    if not isinstance(content, str) or not content.strip():
        return None  # images or other parts: a text embedding would not see them
    context = [_message(m) for m in request.messages[:-1]]
    scope = _digest(KEY_VERSION, "semantic", tenant, request.model, answer_parameters(request), context)
    return SemanticQuery(scope=_prefix(request.model, generation) + scope, text=content.strip())
