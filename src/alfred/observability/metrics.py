"""Alfred's Prometheus metrics: one ``GatewayMetrics`` per app, over its own registry.

Every name starts with ``alfred_``; label values are bounded (``observability.labels``). The
per-request metrics live in a ``Tally`` (plain numbers, per worker; see ``observability.tally`` for
why; their families in ``observability.request_families``), the rest in prometheus_client's own
metric objects. Other parts record through the small
methods here (``breaker_transition``, ``image_job``, ``queue_depth``, …); the pipeline's Metrics
stage records requests through ``request``.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from alfred import __version__
from alfred.observability.labels import (
    BREAKER_STATES,
    CACHE_RESULTS,
    ENDPOINTS,
    IMAGE_OUTCOMES,
    IMAGE_ROUTES,
    NONE,
    OTHER,
    RATE_LIMIT_SCOPES,
    RESERVATION_EVENTS,
    BoundedLabel,
    fixed,
    status_label,
)
from alfred.observability.merge import LiveMultiProcessCollector, multiprocess_dir, release
from alfred.observability.request_families import (
    CACHE,
    CACHE_SAVED_USD,
    CACHE_SIMILARITY,
    CACHE_TOKENS_SAVED,
    COST,
    DURATION,
    GENERATION_BUCKETS,
    IN_FLIGHT,
    OVERHEAD,
    REQUEST_FAMILIES,
    REQUESTS,
    TOKENS,
    TTFT,
    UPSTREAM,
    DeploymentRef,
    RequestLabels,
)
from alfred.observability.settings import MetricsSettings
from alfred.observability.tally import Cell, HistogramCell, Tally


class _Series:
    """The cells one label combination writes to, looked up once and then reused (the hot path).

    Cells that not every request touches (upstream, first token, tokens, cost) are made on first
    use, so a series that never reached an upstream shows no empty upstream histogram.
    """

    __slots__ = ("_cost", "_t", "_tokens_in", "_tokens_out", "_ttft", "_upstream", "cost_key", "deployment_key",
                 "duration", "overhead", "requests", "upstream_key")  # fmt: skip

    def __init__(self, t: Tally, endpoint: str, group: str, deployment: str, provider: str, status: str,
                 cache: str, team: str) -> None:  # fmt: skip
        self._t = t
        self.requests = t.cell(REQUESTS, (endpoint, group, deployment, provider, status, cache))
        self.duration = t.histogram(DURATION, (endpoint, group))
        self.overhead = t.histogram(OVERHEAD, (endpoint, group))
        self.upstream_key = (group, deployment, provider)
        self.deployment_key = (group, deployment)
        self.cost_key = (group, team)
        self._upstream: HistogramCell | None = None
        self._ttft: HistogramCell | None = None
        self._tokens_in: Cell | None = None
        self._tokens_out: Cell | None = None
        self._cost: Cell | None = None

    def upstream(self) -> HistogramCell:
        if self._upstream is None:
            self._upstream = self._t.histogram(UPSTREAM, self.upstream_key)
        return self._upstream

    def ttft(self) -> HistogramCell:
        if self._ttft is None:
            self._ttft = self._t.histogram(TTFT, self.deployment_key)
        return self._ttft

    def tokens_in(self) -> Cell:
        if self._tokens_in is None:
            self._tokens_in = self._t.cell(TOKENS, (*self.deployment_key, "in"))
        return self._tokens_in

    def tokens_out(self) -> Cell:
        if self._tokens_out is None:
            self._tokens_out = self._t.cell(TOKENS, (*self.deployment_key, "out"))
        return self._tokens_out

    def cost(self) -> Cell:
        if self._cost is None:
            self._cost = self._t.cell(COST, self.cost_key)
        return self._cost


class GatewayMetrics:
    """All of Alfred's metrics over one registry; built once in the composition root, closed at shutdown.

    In multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``; see ``observability.multiprocess``) every
    worker's samples go to shared files and ``render`` merges them; otherwise they stay in memory.
    """

    def __init__(
        self,
        settings: MetricsSettings | None = None,
        *,
        groups: Iterable[str] = (),
        deployments: Iterable[DeploymentRef] = (),
        registry: CollectorRegistry | None = None,
    ) -> None:
        settings = settings or MetricsSettings()
        self.multiprocess_dir = multiprocess_dir()
        self.registry = r = registry or CollectorRegistry()
        refs = list(deployments)
        self._group = BoundedLabel(groups)
        self._deployment = BoundedLabel("/".join(ref) for ref in refs)
        self._provider = BoundedLabel(provider for _, provider, _ in refs)
        # A fallback is served by another group's deployment: found by provider and upstream model.
        self._by_upstream: dict[tuple[str, str], str] = {}
        for ref in refs:
            self._by_upstream.setdefault((ref[1], ref[2]), "/".join(ref))
        self._team = BoundedLabel(cap=settings.max_label_values)
        self._pool = BoundedLabel(cap=settings.max_label_values)
        self._series: dict[RequestLabels, _Series] = {}
        self._in_flight: dict[str, Cell] = {}
        self._cache_cells: dict[tuple[str | None, str | None], Cell] = {}
        self._saved_cells: dict[str | None, tuple[Cell, Cell, Cell]] = {}  # group → USD, tokens in, out
        self.tally = Tally(REQUEST_FAMILIES, self.multiprocess_dir)
        r.register(self.tally)
        self.rate_limit_rejections_total = Counter(
            "alfred_rate_limit_rejections", "Requests refused by a rate limit, by the scope that refused.",
            ["scope"], registry=r,
        )  # fmt: skip
        self.breaker_state_gauge = Gauge(
            "alfred_breaker_state", "1 for the state each deployment's circuit breaker is in, 0 for the others.",
            ["deployment", "state"], registry=r, multiprocess_mode="mostrecent",
        )  # fmt: skip
        self.breaker_transitions_total = Counter(
            "alfred_breaker_transitions", "Circuit-breaker state changes.",
            ["deployment", "from_state", "to_state"], registry=r,
        )  # fmt: skip
        # The ledger gauges are read from the database (the whole ledger, not this process's share), so
        # in multiprocess mode the latest write wins and dashboards take the max over pods.
        self.reservations_outstanding = Gauge(
            "alfred_ledger_reservations_outstanding", "Ledger reservations held and not yet settled or released.",
            registry=r, multiprocess_mode="mostrecent",
        )  # fmt: skip
        self.reserved_usd = Gauge(
            "alfred_ledger_reserved_usd", "Credits held by open ledger reservations, in USD.",
            registry=r, multiprocess_mode="mostrecent",
        )  # fmt: skip
        self.drift_usd = Gauge(
            "alfred_ledger_drift_usd",
            "What the ledger self-check (alfred ledger check) finds out of balance, in USD; 0 when healthy.",
            registry=r, multiprocess_mode="mostrecent",
        )  # fmt: skip
        self.stale_reservations = Gauge(
            "alfred_ledger_stale_reservations", "Open reservations past their expiry at the last ledger check.",
            registry=r, multiprocess_mode="mostrecent",
        )  # fmt: skip
        self.reservations_total = Counter(
            "alfred_ledger_reservations", "Ledger reservation events.", ["event"], registry=r
        )
        self.budget_used_ratio = Gauge(
            "alfred_budget_used_ratio", "Spent plus reserved over the hard limit, per team wallet.",
            ["team"], registry=r, multiprocess_mode="mostrecent",
        )  # fmt: skip
        self.image_queue_depth = Gauge(
            "alfred_image_queue_depth",
            "Image jobs in a pool's queue, waiting plus running (what the router compares with its threshold).",
            ["pool"],
            registry=r, multiprocess_mode="mostrecent",
        )  # fmt: skip
        self.image_jobs_total = Counter(
            "alfred_image_jobs",
            "Image jobs finished, by route and outcome.",
            ["route", "outcome"],
            registry=r,
        )
        self.image_generation = Histogram(
            "alfred_image_generation_seconds", "Image generation time, by route.", ["route"],
            buckets=GENERATION_BUCKETS, registry=r,
        )  # fmt: skip
        self.build_info = Gauge(
            "alfred_build_info", "Always 1; the label says which Alfred is running.", ["version"],
            registry=r, multiprocess_mode="max",
        )  # fmt: skip
        self.build_info.labels(__version__).set(1)
        for endpoint in ("chat", "embeddings", "messages"):
            self.in_flight(endpoint)  # present (at 0) from the first scrape on

    # --- requests (the Metrics stage) -------------------------------------------------------------

    def in_flight(self, endpoint: str) -> Cell:
        """The in-flight gauge for an endpoint: ``inc()`` on the way in, ``inc(-1)`` on the way out."""
        cell = self._in_flight.get(endpoint)
        if cell is None:
            cell = self._in_flight[endpoint] = self.tally.cell(IN_FLIGHT, (fixed(endpoint, ENDPOINTS),))
        return cell

    def request(
        self,
        labels: RequestLabels,
        *,
        total_s: float,
        overhead_s: float,
        upstream_s: float | None,
        ttft_s: float | None,
        tokens_in: int,
        tokens_out: int,
        cost_usd: float | None,
    ) -> None:
        """Record one finished request."""
        series = self._series.get(labels)
        if series is None:
            endpoint, group, provider, model, status, cache, team = labels
            series = self._series[labels] = _Series(
                self.tally,
                fixed(endpoint, ENDPOINTS),
                self._group(group),
                self._deployment_label(group, provider, model),
                self._provider(provider),
                status_label(status),
                fixed(cache, CACHE_RESULTS),
                self._team(team),
            )
        series.requests.inc()
        series.duration.observe(total_s)
        series.overhead.observe(overhead_s)
        if upstream_s is not None:
            series.upstream().observe(upstream_s)
        if ttft_s is not None:
            series.ttft().observe(ttft_s)
        if tokens_in:
            series.tokens_in().inc(tokens_in)
        if tokens_out:
            series.tokens_out().inc(tokens_out)
        if cost_usd:
            series.cost().inc(cost_usd)
        self.tally.touched()

    def _deployment_label(self, group: str | None, provider: str | None, model: str | None) -> str:
        if provider is None or model is None:
            return NONE
        own = self._deployment(f"{group}/{provider}/{model}")
        return own if own != OTHER else self._by_upstream.get((provider, model), OTHER)

    # --- cache ------------------------------------------------------------------------------------

    def cache_lookup(self, group: str | None, result: str | None, similarity: float | None = None) -> None:
        """The cache stage's outcome for one request (hit, semantic-hit, stale, miss, bypass)."""
        key = (group, result)
        cell = self._cache_cells.get(key)
        if cell is None:
            labels = (self._group(group), fixed(result, CACHE_RESULTS))
            cell = self._cache_cells[key] = self.tally.cell(CACHE, labels)
        cell.inc()
        if similarity is not None:
            self.tally.histogram(CACHE_SIMILARITY, (self._group(group),)).observe(similarity)
        self.tally.touched()

    def cache_saved(
        self, group: str | None, usd: float, prompt_tokens: int = 0, completion_tokens: int = 0
    ) -> None:
        """A cache hit spared an upstream call of these tokens, which would have cost ``usd``."""
        cells = self._saved_cells.get(group)
        if cells is None:
            label = self._group(group)
            t = self.tally
            cells = self._saved_cells[group] = (
                t.cell(CACHE_SAVED_USD, (label,)),
                t.cell(CACHE_TOKENS_SAVED, (label, "in")),
                t.cell(CACHE_TOKENS_SAVED, (label, "out")),
            )
        if usd > 0:
            cells[0].inc(usd)
        if prompt_tokens:
            cells[1].inc(prompt_tokens)
        if completion_tokens:
            cells[2].inc(completion_tokens)
        self.tally.touched()

    # --- rate limits ------------------------------------------------------------------------------

    def rate_limited(self, scope: str) -> None:
        """A rate limit refused a request; ``scope`` is key, user, team, model, ip, deployment or upstream."""
        self.rate_limit_rejections_total.labels(fixed(scope, RATE_LIMIT_SCOPES)).inc()

    # --- circuit breakers -------------------------------------------------------------------------

    def breaker_state(self, deployment: str, state: str) -> None:
        """Set a deployment's breaker state (closed, half_open or open)."""
        label = self._deployment(deployment)
        for candidate in BREAKER_STATES:
            self.breaker_state_gauge.labels(label, candidate).set(1 if candidate == state else 0)

    def breaker_transition(self, deployment: str, source: str, target: str) -> None:
        """A breaker changed state: pass a ``Transition``'s ``key``, ``source`` and ``target``."""
        states = frozenset(BREAKER_STATES)
        source_label, target_label = fixed(str(source), states), fixed(str(target), states)
        self.breaker_transitions_total.labels(self._deployment(deployment), source_label, target_label).inc()
        self.breaker_state(deployment, target_label)

    # --- ledger -----------------------------------------------------------------------------------

    def reservation(self, event: str, count: int = 1) -> None:
        """Reservations were made (``reserved``) or ended (``settled``, ``released``, ``expired``)."""
        self.reservations_total.labels(fixed(event, RESERVATION_EVENTS)).inc(count)

    def reservations_held(self, count: int, held_usd: float) -> None:
        """The ledger's open reservations right now and what they hold (read from the database)."""
        self.reservations_outstanding.set(count)
        self.reserved_usd.set(held_usd)

    def ledger_drift(self, drift_usd: float, stale: int) -> None:
        """The last ledger self-check: money out of balance, and open reservations past expiry."""
        self.drift_usd.set(drift_usd)
        self.stale_reservations.set(stale)

    def budget_used(self, team: str, ratio: float) -> None:
        """A team wallet's share of its budget used: (spent + reserved) over what it may ever spend."""
        self.budget_used_ratio.labels(self._team(team)).set(ratio)

    # --- images -----------------------------------------------------------------------------------

    def queue_depth(self, pool: str, depth: int) -> None:
        """Jobs waiting in an image pool's queue."""
        self.image_queue_depth.labels(self._pool(pool)).set(depth)

    def image_job(self, route: str, outcome: str, seconds: float) -> None:
        """An image job ended. ``route``: primary, fallback or cache; ``outcome``: ok, error, timeout, cancelled."""
        route_label = fixed(route, IMAGE_ROUTES)
        self.image_jobs_total.labels(route_label, fixed(outcome, IMAGE_OUTCOMES)).inc()
        if outcome == "ok":
            self.image_generation.labels(route_label).observe(seconds)

    # --- exposition -------------------------------------------------------------------------------

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition body and its content type (Prometheus text, or OpenMetrics when asked)."""
        encoder, content_type = choose_encoder(accept or "")
        if self.multiprocess_dir is None:
            return encoder(self.registry), content_type
        self.tally.flush()  # this worker's latest numbers; the others flush on their own
        merged = CollectorRegistry()
        LiveMultiProcessCollector(merged, self.multiprocess_dir)
        return encoder(merged), content_type

    def close(self) -> None:
        """At worker shutdown: flush, and take this process's live gauges (in flight) out of the sums."""
        self.tally.close()
        if self.multiprocess_dir is not None:
            release(self.multiprocess_dir)

    async def aclose(self) -> None:
        """``close`` as a shutdown hook of the app."""
        self.close()
