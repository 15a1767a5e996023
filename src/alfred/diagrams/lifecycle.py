"""Seed 003's request lifecycle as a Mermaid sequence diagram, following the configured stage order.

Stages nest (each calls the next and sees the result on its way back), so the diagram is drawn the
same way: each stage hands the call inward and returns the result outward; the cache stage can answer
without going further.
"""

from __future__ import annotations

from alfred.diagrams.facts import GroupFact, Topology
from alfred.diagrams.mermaid import header, stage_label

# What a stage does before it calls the next one, and after the result comes back.
BEFORE: dict[str, str] = {
    "rate_limit": "take tokens (429 when empty)",
    "auth": "verify API key (401 when unknown)",
    "safety": "scan prompt: block, mask or log",
    "metrics": "start timers",
    "cache": "look up exact and semantic cache",
}
AFTER: dict[str, str] = {
    "metrics": "record latency, tokens, cost",
}


def _text(message: str) -> str:
    # ';' ends a statement and '#' starts an entity in Mermaid: spell both as entities.
    return message.replace("#", "#35;").replace(";", "#59;")


def _example(topology: Topology) -> GroupFact | None:
    return next(
        (g for g in topology.groups if g.kind == "chat"), topology.groups[0] if topology.groups else None
    )


def lifecycle_view(topology: Topology) -> str:
    """Seed 003 view 2 for the configured pipeline, with the first chat model group as the example."""
    example = _example(topology)
    stages = list(topology.pipeline)
    ids = [f"S{i}" for i in range(len(stages))]
    lines = [header("Request lifecycle", topology), "sequenceDiagram", "  participant C as Client"]
    lines.append("  participant GW as Gateway (api/)")
    for sid, name in zip(ids, stages, strict=True):
        lines.append(f"  participant {sid} as {_text(stage_label(name, topology)[0])}")
    lines += ["  participant D as Dispatcher", "  participant R as Router"]
    provider = f"{example.deployments[0][0]}" if example else "provider"
    lines.append(f"  participant P as {_text(provider)}")
    if "quota" in stages:
        lines.append("  participant L as Ledger")
    model = example.name if example else "a model"
    lines.append(f"  C->>GW: POST /v1/chat/completions (model {_text(model)})")
    lines.append("  GW->>GW: parse, validate (400 naming the field)")
    lines += _chain(0, "GW", stages, ids, topology, example)
    lines += ["  GW-->>C: 200 JSON, or SSE chunks then [DONE]", ""]
    return "\n".join(lines)


def _chain(
    index: int, caller: str, stages: list[str], ids: list[str], topology: Topology, example: GroupFact | None
) -> list[str]:
    if index == len(stages):
        return [
            f"  {caller}->>D: next(call)",
            *_dispatch(topology, example),
            f"  D-->>{caller}: response and usage",
        ]
    name, me = stages[index], ids[index]
    lines = [f"  {caller}->>{me}: {'call' if index == 0 else 'next(call)'}"]
    if name in BEFORE:
        lines.append(f"  {me}->>{me}: {BEFORE[name]}")
    if name == "quota":
        lines += [f"  {me}->>L: reserve estimated cost", f"  L-->>{me}: reservation (402 when short)"]
    if name == "timeout":
        lines.append(f"  {me}->>{me}: arm deadline {topology.request_timeout_s:g}s")
    if name == "cache":
        lines += ["  alt cache hit", f"    {me}-->>{caller}: cached response", "  else miss"]
        lines += ["  " + line for line in _chain(index + 1, me, stages, ids, topology, example)]
        lines += [f"    {me}->>{me}: store response", "  end"]
        return lines
    lines += _chain(index + 1, me, stages, ids, topology, example)
    if name == "quota":
        lines += [f"  {me}->>L: settle to the real cost", f"  L-->>{me}: transaction id"]
    if name in AFTER:
        lines.append(f"  {me}->>{me}: {AFTER[name]}")
    lines.append(f"  {me}-->>{caller}: response")
    return lines


def _dispatch(topology: Topology, example: GroupFact | None) -> list[str]:
    if example is None:
        return ["  D->>R: plan (no model groups configured)", "  R-->>D: 404 model_not_found"]
    deployments = ", ".join(f"{p}:{m}" for p, m in example.deployments)
    fallbacks = f", then {', '.join(example.fallbacks)}" if example.fallbacks else ""
    return [
        f"  D->>R: plan for {_text(example.name)}",
        f"  R-->>D: {_text(deployments + fallbacks)} (weighted order)",
        f"  loop at most {topology.retries + 1} attempts, next deployment on a retryable error",
        "    D->>P: request in the provider's wire format",
        "    P-->>D: response, stream or error",
        "  end",
    ]
