import { useState } from "preact/hooks";
import { rows, type Api } from "../api/client";
import { ErrorBox } from "../components/feedback";
import { useLoad } from "../components/load";
import { DataTable } from "../components/table";

/** What GET /admin/audit/verify said, reduced to: intact or not, and the first row at fault. */
export interface Verdict {
  ok: boolean;
  brokenId: string | null;
  reason: string;
}

/** Read GET /admin/audit/verify: ``{ok, seq, problem, message, rows_checked}`` (``seq`` names the first bad row). */
export function verdictOf(answer: Record<string, unknown>): Verdict {
  const broken = answer.seq ?? answer.first_broken ?? answer.first_broken_row ?? null;
  const brokenId =
    broken && typeof broken === "object" ? String((broken as Record<string, unknown>).id ?? "") || null : broken === null || broken === undefined ? null : String(broken);
  const flag = answer.ok ?? answer.valid ?? answer.intact;
  const ok = typeof flag === "boolean" ? flag && brokenId === null : brokenId === null;
  const reason = String(answer.message ?? answer.reason ?? (broken && typeof broken === "object" ? (broken as Record<string, unknown>).reason ?? "" : ""));
  return { ok, brokenId, reason };
}

/** Query string for the audit log filters (empty ones left out). */
export function auditQuery(filters: Record<string, string>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(filters)) if (v.trim()) params.set(k, v.trim());
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** The hash-chained audit log with filters and a "verify chain" button. */
export function Audit({ api }: { api: Api }) {
  const [filters, setFilters] = useState({ event_type: "", user_id: "", limit: "100" });
  const [applied, setApplied] = useState(filters);
  const log = useLoad(() => api.get<unknown>(`/admin/audit${auditQuery(applied)}`), [api, applied]);
  const [verdict, setVerdict] = useState<Verdict | null>(null);
  const [error, setError] = useState<unknown>(undefined);
  const verify = async (): Promise<void> => {
    setError(undefined);
    try {
      setVerdict(verdictOf(await api.get<Record<string, unknown>>("/admin/audit/verify")));
    } catch (exc) {
      setError(exc);
    }
  };
  const set = (name: string) => (e: Event) => setFilters({ ...filters, [name]: (e.target as HTMLInputElement).value });
  return (
    <section>
      <h1>Audit</h1>
      <form
        class="card form-grid"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied(filters);
        }}
      >
        <label>Event type<input value={filters.event_type} onInput={set("event_type")} placeholder="key.created" /></label>
        <label>User id<input type="number" value={filters.user_id} onInput={set("user_id")} /></label>
        <label>Rows<input type="number" min="1" max="1000" value={filters.limit} onInput={set("limit")} /></label>
        <button type="submit">Filter</button>
        <button type="button" class="secondary" onClick={() => void verify()}>
          Verify chain
        </button>
      </form>
      {verdict && (
        <div class={verdict.ok ? "ok" : "error"} role="status" data-verdict={verdict.ok ? "ok" : "broken"}>
          {verdict.ok ? (
            <strong>The chain verifies: no row was altered, inserted or deleted.</strong>
          ) : (
            <>
              <strong>The chain is broken at row {verdict.brokenId ?? "?"}.</strong>
              <p>
                {verdict.reason} Restore that row from a backup, then check who had write access to the database.
              </p>
            </>
          )}
        </div>
      )}
      {error !== undefined && <ErrorBox error={error} />}
      {log.error !== undefined ? (
        <ErrorBox error={log.error} />
      ) : (
        <DataTable rows={rows(log.data)} empty="No audit rows match these filters." highlight={(row) => verdict?.brokenId != null && verdict.brokenId === String(row.seq ?? row.id)} />
      )}
    </section>
  );
}
