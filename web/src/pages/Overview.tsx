import { useEffect, useRef, useState } from "preact/hooks";
import { rows, type Api } from "../api/client";
import { overviewPoint, parsePrometheus, type OverviewPoint, type Sample } from "../api/metrics";
import { TimeChart } from "../components/chart";
import { ErrorBox } from "../components/feedback";
import { useLoad } from "../components/load";

const WINDOW = 90; // points kept on the charts

const fmt = (v: number | null, digits = 1, suffix = ""): string => (v === null || Number.isNaN(v) ? "—" : `${v.toFixed(digits)}${suffix}`);

/** Live gateway health from /metrics: two scrapes make one point (counters differenced, histograms windowed). */
export function Overview({ api, intervalMs = 2000 }: { api: Api; intervalMs?: number }) {
  const [points, setPoints] = useState<OverviewPoint[]>([]);
  const [error, setError] = useState<unknown>(undefined);
  const prev = useRef<{ at: number; samples: Sample[] } | null>(null);

  useEffect(() => {
    let live = true;
    const scrape = async (): Promise<void> => {
      try {
        const samples = parsePrometheus(await api.text("/metrics"));
        const at = Date.now() / 1000;
        if (!live) return;
        if (prev.current) {
          const point = overviewPoint(prev.current.samples, samples, at - prev.current.at, at);
          setPoints((p) => [...p.slice(-(WINDOW - 1)), point]);
        }
        prev.current = { at, samples };
        setError(undefined);
      } catch (exc) {
        if (live) setError(exc);
      }
    };
    void scrape();
    const timer = setInterval(() => void scrape(), intervalMs);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [api, intervalMs]);

  const last = points[points.length - 1];
  // Today's spend from the ledger (credits) when the admin API is served; /metrics only counts since start.
  const today = useLoad(async () => {
    const day = new Date().toISOString().slice(0, 10);
    const row = rows(await api.get<unknown>("/admin/usage?group_by=day")).find((r) => String(r.key).startsWith(day));
    return row ? String(row.cost) : "0";
  }, [api, Math.floor((last?.t ?? 0) / 30)]); // refreshed every 30 s of scrapes
  const times = points.map((p) => p.t);
  return (
    <section>
      <h1>Overview</h1>
      {error !== undefined && <ErrorBox error={error} />}
      <div class="tiles">
        <Tile label="Requests/s" value={fmt(last?.rps ?? null, 2)} />
        <Tile label="Error rate" value={fmt(last ? last.errorRate * 100 : null, 1, " %")} />
        {today.data !== undefined && <Tile label="Cost today (credits)" value={today.data} />}
        <Tile label="Cost since start" value={last ? `$${last.costUsd.toFixed(4)}` : "—"} />
        <Tile label="Cache hit rate" value={fmt(last?.cacheHitRate != null ? last.cacheHitRate * 100 : null, 0, " %")} />
        <Tile label="Saved by cache" value={last ? `$${last.savedUsd.toFixed(4)}` : "—"} />
      </div>
      {points.length === 0 && !error && <p class="muted">Collecting the first samples…</p>}
      <div class="charts">
        <TimeChart title="Requests per second" unit="req/s" times={times} lines={[{ label: "req/s", values: points.map((p) => p.rps), color: "#2563eb" }]} />
        <TimeChart
          title="Latency: gateway vs upstream"
          unit="ms"
          times={times}
          lines={[
            { label: "gateway p50", values: points.map((p) => p.gatewayP50), color: "#16a34a" },
            { label: "gateway p95", values: points.map((p) => p.gatewayP95), color: "#86efac" },
            { label: "upstream p50", values: points.map((p) => p.upstreamP50), color: "#9333ea" },
            { label: "upstream p95", values: points.map((p) => p.upstreamP95), color: "#d8b4fe" },
          ]}
        />
        <TimeChart title="Error rate" unit="%" times={times} lines={[{ label: "errors %", values: points.map((p) => p.errorRate * 100), color: "#dc2626" }]} />
        <TimeChart
          title="Cost and cache savings"
          unit="USD"
          times={times}
          lines={[
            { label: "cost", values: points.map((p) => p.costUsd), color: "#ea580c" },
            { label: "saved", values: points.map((p) => p.savedUsd), color: "#0891b2" },
          ]}
        />
        <TimeChart title="Cache hit rate" unit="%" times={times} lines={[{ label: "hit %", values: points.map((p) => (p.cacheHitRate === null ? null : p.cacheHitRate * 100)), color: "#0d9488" }]} />
      </div>
    </section>
  );
}

function Tile({ label, value }: { label: string; value: string }) {
  return (
    <div class="tile">
      <span class="tile-label">{label}</span>
      <span class="tile-value" data-tile={label}>
        {value}
      </span>
    </div>
  );
}
