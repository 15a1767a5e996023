"""Seed 000's hybrid image-generation diagram as SVG, in its colour scheme, with the configured figures.

Left to right: the request layer, routing (queue and the queue-depth router), the primary (self-hosted)
and fallback (paid API) paths, then storage and delivery. Every number on it comes from ``ImageFlowFacts``.
"""

from __future__ import annotations

from decimal import Decimal

from alfred.diagrams.facts import BackendFact, ImageFlowFacts, ImageModelFact
from alfred.diagrams.svg import Box, Svg

PRIMARY = "#27ae60"  # primary path: green
FALLBACK = "#3498db"  # fallback path: blue
SHARED = "#95a5a6"  # shared components: grey
ROUTING = "#f39c12"  # routing: orange
TINTS = {PRIMARY: "#e9f7ef", FALLBACK: "#eaf2fb", SHARED: "#f4f6f6", ROUTING: "#fef5e7"}

WIDTH = 1400
COLUMNS = {"request": 30, "routing": 300, "paths": 600, "delivery": 1050}
WIDTHS = {"request": 230, "routing": 260, "paths": 400, "delivery": 320}
TOP = 130
GAP = 34


def money(value: Decimal) -> str:
    """USD with at least two decimals and no trailing noise: $0.0023, $0.00, $1.50."""
    text = format(value.normalize(), "f")
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"


def _route_rule(facts: ImageFlowFacts) -> list[str]:
    n = facts.threshold
    rules = {
        "queue-depth": [f"primary queue depth < {n}: primary", f"depth ≥ {n}: fallback"],
        "predicted-wait": ["predicted wait within deadline: primary", f"else fallback (queue threshold {n})"],
        "always-primary": ["every job: primary"],
        "always-fallback": ["every job: fallback"],
    }
    lines = rules.get(facts.policy, [f"policy {facts.policy}", f"threshold {n}"])
    if facts.fallback_spend_cap_per_hour is not None:
        lines.append(f"fallback spend cap {money(facts.fallback_spend_cap_per_hour)}/h")
    return lines


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _route_titles(facts: ImageFlowFacts) -> tuple[str, str]:
    if facts.policy == "queue-depth":
        return f"queue depth < {facts.threshold}", f"queue depth ≥ {facts.threshold}"
    if facts.policy == "predicted-wait":
        return "wait fits the deadline", "wait too long"
    return ("every job", "never") if facts.policy == "always-primary" else ("never", "every job")


def _pool(backends: tuple[BackendFact, ...]) -> str:
    return ", ".join(f"{b.name} ({b.kind}, {_count(b.slots, 'slot')})" for b in backends)


def _path_lines(models: tuple[ImageModelFact, ...], route: str) -> list[str]:
    lines: list[str] = []
    for model in models:
        backends = model.primary if route == "primary" else model.fallback
        price = model.primary_price if route == "primary" else model.fallback_price
        if not backends:
            lines.append(f"{model.name}: no {route} backends")
            continue
        slots = sum(b.slots for b in backends)
        lines.append(
            f"{model.name}: {_count(len(backends), 'backend')}, {_count(slots, 'slot')}, {money(price)}/image"
        )
        lines.append(f"  {_pool(backends)}")
    return lines or ["no image models configured"]


def render_image_flow(facts: ImageFlowFacts, source: str) -> str:
    """The SVG document for ``facts``; ``source`` names the config it was drawn from."""
    svg = Svg(WIDTH, 0, f"Alfred hybrid image generation ({source})")
    svg.text(30, 44, "Alfred · hybrid image generation", size=24, weight="bold")
    svg.text(
        30,
        72,
        f"rendered from {source} · policy {facts.policy} · threshold {facts.threshold} · queue {facts.queue_backend}",
        size=13,
        fill="#566573",
    )
    for key, title in (
        ("request", "User request"),
        ("routing", "Intelligent routing"),
        ("paths", "Processing paths"),
        ("delivery", "Storage & delivery"),
    ):
        svg.text(COLUMNS[key], TOP - 16, title.upper(), size=12, weight="bold", fill="#7f8c8d")

    request = _column(
        svg,
        "request",
        [
            ("Client", ["game, web or SDK", "POST /v1/images/generations"], SHARED),
            ("Load balancer", ["ingress, TLS 1.3"], SHARED),
            ("Alfred gateway", ["pipeline: auth, quota, safety", "reserve the job's cost"], SHARED),
        ],
    )
    cache = (
        [f"TTL {_duration(facts.cache_ttl_s)}", "hit: URL at once, no cost"]
        if facts.cache_enabled
        else ["disabled"]
    )
    routing = _column(
        svg,
        "routing",
        [
            ("Result cache", cache, SHARED),
            ("Job queue", [f"backend: {facts.queue_backend}", "a stream per model and route"], ROUTING),
            ("Router", _route_rule(facts), ROUTING),
        ],
    )
    primary_when, fallback_when = _route_titles(facts)
    paths = _column(
        svg,
        "paths",
        [
            (
                f"Primary path · {primary_when}",
                ["self-hosted: workers consume the primary stream", *_path_lines(facts.models, "primary")],
                PRIMARY,
            ),
            (
                f"Fallback path · {fallback_when}",
                ["paid API: routed away, or after a primary failure", *_path_lines(facts.models, "fallback")],
                FALLBACK,
            ),
        ],
    )
    delivery = _column(
        svg,
        "delivery",
        [
            ("Blob store", ["disk, or S3-compatible (R2, MinIO)"], SHARED),
            ("CDN / files URL", ["public URL or presigned URL"], SHARED),
            ("Cache and ledger", ["store the result by request hash", "settle the reservation"], SHARED),
        ],
    )
    low = max(b.y + b.h for b in (*request, *routing, *paths, *delivery)) + 28
    _flow_arrows(svg, request, routing, paths, delivery, facts, low)
    svg.height = int(low + 290)
    _footer(svg, low + 50, facts)
    return svg.render()


def _column(svg: Svg, key: str, boxes: list[tuple[str, list[str], str]]) -> list[Box]:
    placed: list[Box] = []
    y: float = TOP
    for title, lines, colour in boxes:
        placed.append(svg.box(COLUMNS[key], y, WIDTHS[key], title, lines, colour, TINTS[colour]))
        y = placed[-1].y + placed[-1].h + GAP
    return placed


def _flow_arrows(
    svg: Svg,
    request: list[Box],
    routing: list[Box],
    paths: list[Box],
    delivery: list[Box],
    facts: ImageFlowFacts,
    low: float,
) -> None:
    client, balancer, gateway = request
    cache, queue, router = routing
    primary, fallback = paths
    blobs, cdn, settle = delivery
    svg.arrow([client.bottom, balancer.top], SHARED)
    svg.arrow([balancer.bottom, gateway.top], SHARED)
    turn = gateway.right[0] + 20
    svg.arrow([gateway.right, (turn, gateway.right[1]), (turn, cache.left[1]), cache.left], SHARED)
    svg.arrow([cache.bottom, queue.top], ROUTING, label="miss")
    svg.arrow([queue.bottom, router.top], ROUTING)
    mid = router.right[0] + (primary.x - router.right[0]) / 2
    svg.arrow([router.right, (mid, router.right[1]), (mid, primary.left[1]), primary.left], PRIMARY)
    svg.arrow([router.right, (mid, router.right[1]), (mid, fallback.left[1]), fallback.left], FALLBACK)
    join = primary.right[0] + (blobs.x - primary.right[0]) / 2
    svg.arrow(
        [primary.right, (join, primary.right[1]), (join, blobs.left[1] - 6), (blobs.x, blobs.left[1] - 6)],
        PRIMARY,
    )
    svg.arrow(
        [
            fallback.right,
            (join + 14, fallback.right[1]),
            (join + 14, blobs.left[1] + 8),
            (blobs.x, blobs.left[1] + 8),
        ],
        FALLBACK,
    )
    svg.arrow([blobs.bottom, cdn.top], SHARED)
    svg.arrow([cdn.bottom, settle.top], SHARED)
    svg.arrow(
        [settle.bottom, (settle.bottom[0], low), (14, low), (14, client.left[1]), client.left],
        SHARED,
        dashed=True,
    )
    svg.text(
        (14 + settle.bottom[0]) / 2,
        low - 7,
        "8. image URL back to the user",
        size=11,
        weight="bold",
        anchor="middle",
        fill="#7f8c8d",
    )


STEPS = (
    "1. The user submits a prompt (a preset such as a weapon, or free text).",
    "2. The gateway authenticates, checks quota and safety, and reserves the cost.",
    "3. A cache hit returns the stored URL at once; a miss becomes a queued job.",
    "4. The router checks the primary queue's depth against the threshold.",
    "5. Normal load: a primary worker renders it; peak load or failure: the fallback API.",
    "6. The image is written to the blob store.",
    "7. The result is cached by request hash and the ledger settles the real cost.",
    "8. The user gets the URL (polling, waiting, or a signed webhook).",
)


def _footer(svg: Svg, top: float, facts: ImageFlowFacts) -> None:
    svg.text(30, top, "DATA FLOW", size=12, weight="bold", fill="#7f8c8d")
    for i, step in enumerate(STEPS):
        svg.text(30 + (i // 4) * 560, top + 26 + (i % 4) * 22, step, size=12)
    legend_y = top + 140
    svg.text(30, legend_y, "LEGEND", size=12, weight="bold", fill="#7f8c8d")
    items = (
        (PRIMARY, "Primary path"),
        (FALLBACK, "Fallback path"),
        (SHARED, "Shared components"),
        (ROUTING, "Routing"),
    )
    for i, (colour, name) in enumerate(items):
        x = 30 + i * 300
        svg.rect(x, legend_y + 14, 28, 18, fill=colour, stroke=colour, rx=4)
        svg.text(x + 38, legend_y + 28, f"{name} ({colour})", size=12)
    prices = sorted({(m.primary_price, m.fallback_price) for m in facts.models})
    summary = "; ".join(f"primary {money(p)}/image, fallback {money(f)}/image" for p, f in prices)
    svg.text(
        30,
        legend_y + 66,
        f"Prices from config: {summary or 'no image models configured'}",
        size=12,
        fill="#566573",
    )
