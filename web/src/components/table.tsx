import type { ComponentChildren } from "preact";

/** Render a cell value: objects as compact JSON, nulls as a dash, measured fractions to 3 places
 * (money is never a JSON number here: the admin API sends amounts as exact strings). */
export function cell(value: unknown): string {
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "object") return JSON.stringify(value);
  if (typeof value === "number" && !Number.isInteger(value)) return String(Number(value.toFixed(3)));
  return String(value);
}

/** The columns of a list: the keys of its rows, in first-seen order (the admin API decides them). */
export function columnsOf(list: Array<Record<string, unknown>>, limit = 10): string[] {
  const seen: string[] = [];
  for (const row of list) for (const key of Object.keys(row)) if (!seen.includes(key)) seen.push(key);
  return seen.slice(0, limit);
}

/** A scrollable table of records; ``actions`` adds a last column per row. */
export function DataTable(props: {
  rows: Array<Record<string, unknown>>;
  columns?: string[];
  empty?: string;
  actions?: (row: Record<string, unknown>) => ComponentChildren;
  highlight?: (row: Record<string, unknown>) => boolean;
}) {
  const columns = props.columns ?? columnsOf(props.rows);
  if (props.rows.length === 0) return <p class="muted">{props.empty ?? "Nothing here yet."}</p>;
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            {columns.map((c) => (
              <th key={c}>{c}</th>
            ))}
            {props.actions && <th />}
          </tr>
        </thead>
        <tbody>
          {props.rows.map((row, i) => (
            <tr key={i} class={props.highlight?.(row) ? "broken" : undefined}>
              {columns.map((c) => (
                <td key={c}>{cell(row[c])}</td>
              ))}
              {props.actions && <td>{props.actions(row)}</td>}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
