import { useState } from "preact/hooks";
import type { Api } from "../api/client";
import { CACHE_HITS, parsePrometheus, total } from "../api/metrics";
import type { CacheGroup } from "../api/types";
import { ErrorBox } from "../components/feedback";
import { useLoad } from "../components/load";
import { DataTable } from "../components/table";

/** Hit rates per model group from /metrics (always there), entries and flush from /admin/cache (when served). */
export function Cache({ api }: { api: Api }) {
  const groups = useLoad(() => api.get<{ groups: CacheGroup[] }>("/admin/cache"), [api]);
  const rates = useLoad(async () => {
    const samples = parsePrometheus(await api.text("/metrics"));
    const byGroup = new Map<string, { exact: number; semantic: number; looked: number }>();
    for (const s of samples) {
      if (s.name !== "alfred_requests_total" || !s.labels.cache || s.labels.cache === "bypass" || s.labels.cache === "none") continue;
      const g = byGroup.get(s.labels.model_group) ?? { exact: 0, semantic: 0, looked: 0 };
      g.looked += s.value;
      if (s.labels.cache === "semantic-hit") g.semantic += s.value;
      else if (CACHE_HITS.has(s.labels.cache)) g.exact += s.value;
      byGroup.set(s.labels.model_group, g);
    }
    const saved = (group: string) => total(samples, "alfred_cache_saved_usd_total", (l) => l.model_group === group);
    return [...byGroup.entries()].map(([group, g]) => ({
      model_group: group,
      lookups: g.looked,
      exact_hit_rate: g.looked ? `${((100 * g.exact) / g.looked).toFixed(1)} %` : "—",
      semantic_hit_rate: g.looked ? `${((100 * g.semantic) / g.looked).toFixed(1)} %` : "—",
      saved_usd: saved(group).toFixed(6),
    }));
  }, [api]);
  const [error, setError] = useState<unknown>(undefined);
  const flush = async (group: string): Promise<void> => {
    setError(undefined);
    try {
      await api.post("/admin/cache/flush", { group });
      groups.reload();
    } catch (exc) {
      setError(exc);
    }
  };
  return (
    <section>
      <h1>Cache</h1>
      <h2>Hit rates (from /metrics)</h2>
      {rates.error !== undefined ? <ErrorBox error={rates.error} /> : <DataTable rows={rates.data ?? []} empty="No cache lookups yet: the cache may be off, or no traffic has passed." />}
      <h2>Entries</h2>
      {error !== undefined && <ErrorBox error={error} />}
      {groups.error !== undefined ? (
        <ErrorBox error={groups.error} />
      ) : (
        <DataTable
          rows={(groups.data?.groups ?? []) as unknown as Array<Record<string, unknown>>}
          actions={(row) => (
            <button type="button" class="danger" onClick={() => void flush(String(row.group))}>
              Flush
            </button>
          )}
        />
      )}
    </section>
  );
}
