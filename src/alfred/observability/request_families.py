"""The per-request metric families (kept in the ``Tally``), their buckets, and the label tuples the
Metrics stage hands ``GatewayMetrics.request``."""

from __future__ import annotations

from alfred.observability.tally import Family

# Seconds. Overhead is the gateway's own time, so its buckets start at 100 µs.
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
# Cosine similarity of a semantic hit to the stored question; the default threshold is 0.95.
SIMILARITY_BUCKETS = (0.9, 0.95, 0.96, 0.97, 0.98, 0.99, 0.995, 1.0)
GENERATION_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)

# Where a request went and how it ended, as raw values (``GatewayMetrics.request`` bounds them):
# (endpoint, model group asked for, provider, upstream model, HTTP status, cache result, team). A
# plain tuple, because one is built and hashed per request.
RequestLabels = tuple[str, str | None, str | None, str | None, int, str | None, str | None]
# A configured deployment: (model group, provider name, upstream model); its id joins them with "/".
DeploymentRef = tuple[str, str, str]

REQUESTS = Family(
    "alfred_requests", "counter", "Requests answered, by where they went and how they ended.",
    ("endpoint", "model_group", "deployment", "provider", "status", "cache"),
)  # fmt: skip
IN_FLIGHT = Family("alfred_requests_in_flight", "gauge", "Requests inside the pipeline now.", ("endpoint",))
DURATION = Family(
    "alfred_request_duration_seconds", "histogram", "Request time in the gateway (streams: to the last chunk).",
    ("endpoint", "model_group"), LATENCY_BUCKETS,
)  # fmt: skip
OVERHEAD = Family(
    "alfred_gateway_overhead_seconds", "histogram",
    "Time the gateway adds: request time minus upstream time (streams: to the first chunk).",
    ("endpoint", "model_group"), OVERHEAD_BUCKETS,
)  # fmt: skip
UPSTREAM = Family(
    "alfred_upstream_latency_seconds", "histogram", "Time waiting on the upstream (streams: to its first chunk).",
    ("model_group", "deployment", "provider"), LATENCY_BUCKETS,
)  # fmt: skip
TTFT = Family(
    "alfred_time_to_first_token_seconds", "histogram", "Streams: from the request to the first chunk sent.",
    ("model_group", "deployment"), LATENCY_BUCKETS,
)  # fmt: skip
TOKENS = Family(
    "alfred_tokens", "counter", "Tokens metered, in (prompt) and out (completion).",
    ("model_group", "deployment", "direction"),
)  # fmt: skip
COST = Family("alfred_cost_usd", "counter", "Cost charged, in USD.", ("model_group", "team"))
# The cache stage's outcomes are per request too, so they live in the tally beside the request metrics.
CACHE = Family(
    "alfred_cache_requests", "counter",
    "Chat requests the cache stage saw, by outcome (a stale answer follows the same request's miss).",
    ("model_group", "result"),
)  # fmt: skip
CACHE_SIMILARITY = Family(
    "alfred_cache_semantic_similarity", "histogram", "Semantic cache hits by similarity to the stored question.",
    ("model_group",), SIMILARITY_BUCKETS,
)  # fmt: skip
CACHE_TOKENS_SAVED = Family(
    "alfred_cache_tokens_saved", "counter", "Tokens cache hits spared the upstream, in (prompt) and out (completion).",
    ("model_group", "direction"),
)  # fmt: skip
CACHE_SAVED_USD = Family(
    "alfred_cache_saved_usd", "counter", "What cache hits would have cost upstream at the group's list price, in USD.",
    ("model_group",),
)  # fmt: skip
REQUEST_FAMILIES = [REQUESTS, IN_FLIGHT, DURATION, OVERHEAD, UPSTREAM, TTFT, TOKENS, COST, CACHE, CACHE_SIMILARITY,
                    CACHE_TOKENS_SAVED, CACHE_SAVED_USD]  # fmt: skip
