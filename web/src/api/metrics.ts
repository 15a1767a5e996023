/** One Prometheus sample: metric name, labels, value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parse the Prometheus text exposition format (comments skipped, label escapes undone). */
export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const m = SAMPLE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[2]) {
      for (const l of m[2].matchAll(LABEL)) {
        labels[l[1]] = l[2].replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
      }
    }
    const value = m[3] === "+Inf" ? Infinity : m[3] === "-Inf" ? -Infinity : Number(m[3]);
    out.push({ name: m[1], labels, value });
  }
  return out;
}

/** Sum of every sample of a metric whose labels match ``where``. */
export function total(samples: Sample[], name: string, where: (l: Record<string, string>) => boolean = () => true): number {
  let sum = 0;
  for (const s of samples) if (s.name === name && where(s.labels)) sum += s.value;
  return sum;
}

/** Cumulative histogram buckets of one metric, summed over all other labels: [upper bound, count]. */
export function buckets(samples: Sample[], name: string): Array<[number, number]> {
  const by = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket` || s.labels.le === undefined) continue;
    const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
    by.set(le, (by.get(le) ?? 0) + s.value);
  }
  return [...by.entries()].sort((a, b) => a[0] - b[0]);
}

/** Difference of two cumulative bucket lists (a window's worth of observations). */
export function bucketDelta(now: Array<[number, number]>, before: Array<[number, number]>): Array<[number, number]> {
  const prev = new Map(before);
  return now.map(([le, c]) => [le, Math.max(0, c - (prev.get(le) ?? 0))]);
}

/** The q-quantile from cumulative buckets, interpolated linearly inside a bucket (as PromQL does). */
export function quantile(q: number, cumulative: Array<[number, number]>): number | null {
  if (cumulative.length === 0) return null;
  const count = cumulative[cumulative.length - 1][1];
  if (count <= 0) return null;
  const rank = q * count;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, c] of cumulative) {
    if (c >= rank) {
      if (le === Infinity) return prevLe;
      const inBucket = c - prevCount;
      return inBucket <= 0 ? le : prevLe + ((le - prevLe) * (rank - prevCount)) / inBucket;
    }
    prevLe = le;
    prevCount = c;
  }
  return prevLe;
}

/** What the Overview charts plot at one instant, derived from two scrapes ``seconds`` apart. */
export interface OverviewPoint {
  t: number;
  rps: number;
  errorRate: number;
  gatewayP50: number | null;
  gatewayP95: number | null;
  upstreamP50: number | null;
  upstreamP95: number | null;
  costUsd: number;
  cacheHitRate: number | null;
  savedUsd: number;
}

/** The ``cache`` label values the cache stage writes (pipeline/cache.py): served from cache, or looked up. */
export const CACHE_HITS = new Set(["hit", "semantic-hit", "stale"]);
export const CACHE_LOOKED = new Set(["hit", "semantic-hit", "stale", "miss"]);

const isError = (l: Record<string, string>): boolean => Number(l.status) >= 500 || l.status === "error";

/** One chart point from the previous and the current scrape (counters are differenced). */
export function overviewPoint(prev: Sample[], now: Sample[], seconds: number, t: number): OverviewPoint {
  const d = (name: string, where?: (l: Record<string, string>) => boolean): number =>
    Math.max(0, total(now, name, where) - total(prev, name, where));
  const requests = d("alfred_requests_total");
  const errors = d("alfred_requests_total", isError);
  const hits = d("alfred_requests_total", (l) => CACHE_HITS.has(l.cache));
  const looked = d("alfred_requests_total", (l) => CACHE_LOOKED.has(l.cache));
  const overhead = bucketDelta(buckets(now, "alfred_gateway_overhead_seconds"), buckets(prev, "alfred_gateway_overhead_seconds"));
  const upstream = bucketDelta(buckets(now, "alfred_upstream_latency_seconds"), buckets(prev, "alfred_upstream_latency_seconds"));
  const ms = (v: number | null): number | null => (v === null ? null : v * 1000);
  return {
    t,
    rps: seconds > 0 ? requests / seconds : 0,
    errorRate: requests > 0 ? errors / requests : 0,
    gatewayP50: ms(quantile(0.5, overhead)),
    gatewayP95: ms(quantile(0.95, overhead)),
    upstreamP50: ms(quantile(0.5, upstream)),
    upstreamP95: ms(quantile(0.95, upstream)),
    costUsd: total(now, "alfred_cost_usd_total"),
    cacheHitRate: looked > 0 ? hits / looked : null,
    savedUsd: total(now, "alfred_cache_saved_usd_total"),
  };
}
