import { useState } from "preact/hooks";
import { rows, type Api } from "../api/client";
import { toCsv } from "../api/csv";
import { ErrorBox } from "../components/feedback";
import { useLoad } from "../components/load";
import { DataTable } from "../components/table";

const DIMENSIONS = ["team", "user", "model", "provider", "day"] as const;

/** Spend and tokens grouped by one dimension, with a CSV download of exactly what is shown. */
export function Usage({ api, self }: { api: Api; self: boolean }) {
  const [by, setBy] = useState<string>("model");
  const usage = useLoad(
    () =>
      self
        ? api.get<Record<string, unknown>>("/v1/me").then((me) => (me.usage ? [me.usage] : []))
        : api.get<unknown>(`/admin/usage?group_by=${encodeURIComponent(by)}`),
    [api, by, self],
  );
  const list = rows(usage.data);
  const download = () => {
    const blob = new Blob([toCsv(list)], { type: "text/csv" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `alfred-usage-by-${by}.csv`;
    link.click();
    URL.revokeObjectURL(link.href);
  };
  return (
    <section>
      <h1>Usage</h1>
      <div class="toolbar">
        {!self && (
          <label>
            Group by{" "}
            <select value={by} onChange={(e) => setBy((e.target as HTMLSelectElement).value)}>
              {DIMENSIONS.map((d) => (
                <option key={d} value={d}>
                  {d}
                </option>
              ))}
            </select>
          </label>
        )}
        <button type="button" onClick={download} disabled={list.length === 0}>
          Export CSV
        </button>
      </div>
      {usage.error !== undefined ? <ErrorBox error={usage.error} /> : <DataTable rows={list} empty="No usage recorded yet: make a call with a key." />}
    </section>
  );
}
