import { useState } from "preact/hooks";
import { rows, type Api } from "../api/client";
import { ErrorBox } from "../components/feedback";
import { useLoad } from "../components/load";
import { DataTable } from "../components/table";

/** The body of POST /admin/keys built from the form (empty fields left out: the server's defaults apply). */
export function keyRequest(form: Record<string, string>): Record<string, unknown> {
  const body: Record<string, unknown> = { user_id: Number(form.user_id), name: form.name.trim() };
  const models = form.allowed_models
    .split(",")
    .map((m) => m.trim())
    .filter(Boolean);
  if (models.length) body.allowed_models = models;
  for (const field of ["rpm_limit", "tpm_limit"]) if (form[field]?.trim()) body[field] = Number(form[field]);
  if (form.budget?.trim()) body.budget = form.budget.trim(); // credits, a decimal string
  if (form.expires_at) body.expires_at = new Date(form.expires_at).toISOString();
  return body;
}

const EMPTY = { user_id: "", name: "", allowed_models: "", rpm_limit: "", tpm_limit: "", budget: "", expires_at: "" };

/** Create keys (the clear key is shown once, with a copy button), list and revoke them. */
export function Keys({ api }: { api: Api }) {
  const list = useLoad(() => api.get<unknown>("/admin/keys"), [api]);
  const [form, setForm] = useState<Record<string, string>>(EMPTY);
  const [created, setCreated] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  const [error, setError] = useState<unknown>(undefined);

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    setError(undefined);
    try {
      const answer = await api.post<Record<string, unknown>>("/admin/keys", keyRequest(form));
      setCreated(String(answer.key ?? ""));
      setCopied(false);
      setForm(EMPTY);
      list.reload();
    } catch (exc) {
      setError(exc);
    }
  };
  const revoke = async (id: unknown): Promise<void> => {
    if (!confirm(`Revoke key ${String(id)}? Calls with it will fail with 401.`)) return;
    try {
      await api.delete(`/admin/keys/${encodeURIComponent(String(id))}`);
      list.reload();
    } catch (exc) {
      setError(exc);
    }
  };
  const copy = async (): Promise<void> => {
    if (created) {
      await navigator.clipboard.writeText(created);
      setCopied(true);
    }
  };
  const field = (name: string, label: string, type: "text" | "number" | "datetime-local" = "text", placeholder = "") => (
    <label>
      {label}
      <input name={name} type={type as "text"} placeholder={placeholder} value={form[name]} onInput={(e) => setForm({ ...form, [name]: (e.target as HTMLInputElement).value })} />
    </label>
  );

  return (
    <section>
      <h1>Keys</h1>
      {created !== null && (
        <div class="created-key" role="status">
          <p>
            <strong>Copy this key now: it is shown once and never again.</strong>
          </p>
          <code data-created-key>{created}</code>
          <button type="button" onClick={() => void copy()}>
            {copied ? "Copied" : "Copy"}
          </button>
          <button type="button" class="secondary" onClick={() => setCreated(null)}>
            Done
          </button>
        </div>
      )}
      <form class="card form-grid" onSubmit={(e) => void submit(e)}>
        <h2>Create a key</h2>
        {field("user_id", "User id", "number")}
        {field("name", "Name")}
        {field("allowed_models", "Models (comma-separated; empty = all)", "text", "gpt-4o-mini, claude-3-5-haiku")}
        {field("rpm_limit", "Requests/min", "number")}
        {field("tpm_limit", "Tokens/min", "number")}
        {field("budget", "Budget (credits)", "number")}
        {field("expires_at", "Expires", "datetime-local")}
        <button type="submit" disabled={!form.user_id || !form.name.trim()}>
          Create key
        </button>
      </form>
      {error !== undefined && <ErrorBox error={error} />}
      {list.error !== undefined ? (
        <ErrorBox error={list.error} />
      ) : (
        <DataTable
          rows={rows(list.data)}
          columns={["id", "name", "prefix", "user_id", "allowed_models", "rpm_limit", "tpm_limit", "budget", "spent", "expires_at", "is_active"]}
          empty="No keys yet: create one above."
          actions={(row) =>
            row.is_active === false || row.revoked_at ? (
              <span class="muted">revoked</span>
            ) : (
              <button type="button" class="danger" onClick={() => void revoke(row.id)}>
                Revoke
              </button>
            )
          }
        />
      )}
    </section>
  );
}
