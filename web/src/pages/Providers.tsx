import { useState } from "preact/hooks";
import { rows, type Api } from "../api/client";
import type { ProviderState } from "../api/types";
import { ErrorBox } from "../components/feedback";
import { useLoad } from "../components/load";
import { DataTable } from "../components/table";

/** Each deployment's breaker, latency, errors and in-flight count; force a breaker open or closed. */
export function Providers({ api }: { api: Api }) {
  const list = useLoad(() => api.get<unknown>("/admin/providers"), [api]);
  const [error, setError] = useState<unknown>(undefined);
  const force = async (deployment: string, state: "open" | "closed" | "auto"): Promise<void> => {
    setError(undefined);
    try {
      await api.post(`/admin/providers/${encodeURIComponent(deployment)}/breaker`, { state });
      list.reload();
    } catch (exc) {
      setError(exc);
    }
  };
  const data = rows(list.data) as unknown as ProviderState[];
  return (
    <section>
      <h1>Providers</h1>
      {error !== undefined && <ErrorBox error={error} />}
      {list.error !== undefined ? (
        <ErrorBox error={list.error} />
      ) : (
        <DataTable
          rows={data as unknown as Array<Record<string, unknown>>}
          columns={["deployment", "breaker", "forced", "latency_ewma_ms", "latency_p95_ms", "error_rate", "in_flight"]}
          empty="No deployments configured."
          actions={(row) => (
            <span class="actions">
              <button type="button" class="danger" onClick={() => void force(String(row.deployment), "open")}>Force open</button>
              <button type="button" onClick={() => void force(String(row.deployment), "closed")}>Force closed</button>
              <button type="button" class="secondary" onClick={() => void force(String(row.deployment), "auto")}>Auto</button>
            </span>
          )}
        />
      )}
    </section>
  );
}
