import { useState } from "preact/hooks";
import { rows, type Api } from "../api/client";
import { ErrorBox } from "../components/feedback";
import { useLoad } from "../components/load";
import { DataTable } from "../components/table";

type Form = Record<string, string>;

/**
 * Omit empty fields, turn ids into numbers and flags into booleans. Amounts stay decimal strings: the
 * admin API takes credits (1 USD = 100 credits) as decimals and refuses anything finer than a micro-credit.
 */
export function compact(form: Form, numeric: string[], flags: string[] = []): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(form)) {
    if (flags.includes(name)) body[name] = value === "true";
    else if (value.trim() === "") continue;
    else body[name] = numeric.includes(name) ? Number(value) : value.trim();
  }
  return body;
}

function useForm(initial: Form): [Form, (name: string) => (e: Event) => void, () => void] {
  const [form, setForm] = useState(initial);
  const on = (name: string) => (e: Event) => {
    const target = e.target as HTMLInputElement;
    setForm({ ...form, [name]: target.type === "checkbox" ? String(target.checked) : target.value });
  };
  return [form, on, () => setForm(initial)];
}

/** Teams (pool, vacation share), users (quota, priority, admin), wallets (balance, limits, top-up, transfer). */
export function Teams({ api }: { api: Api }) {
  const teams = useLoad(() => api.get<unknown>("/admin/teams"), [api]);
  const users = useLoad(() => api.get<unknown>("/admin/users"), [api]);
  const [error, setError] = useState<unknown>(undefined);
  const [team, onTeam, resetTeam] = useForm({ name: "", common_pool: "", vacation_share_pct: "", hard_limit: "", allow_pool: "true" });
  const [user, onUser, resetUser] = useForm({ email: "", name: "", team_id: "", personal_quota: "", is_admin: "false", priority: "false" });
  const [walletId, setWalletId] = useState("");
  const [amount, setAmount] = useState("");
  const [transfer, onTransfer, resetTransfer] = useForm({ from_wallet: "", to_wallet: "", amount: "" });
  const approvals = useLoad(() => api.get<unknown>("/admin/approvals"), [api]);
  const wallet = useLoad(() => (walletId ? api.get<Record<string, unknown>>(`/admin/wallets/${encodeURIComponent(walletId)}`) : Promise.resolve(undefined)), [api, walletId]);

  const act = async (work: () => Promise<unknown>, after: () => void): Promise<void> => {
    setError(undefined);
    try {
      await work();
      after();
    } catch (exc) {
      setError(exc);
    }
  };
  const submitTeam = (e: Event) => {
    e.preventDefault();
    void act(() => api.post("/admin/teams", compact(team, ["vacation_share_pct"], ["allow_pool"])), () => {
      resetTeam();
      teams.reload();
    });
  };
  const submitUser = (e: Event) => {
    e.preventDefault();
    void act(() => api.post("/admin/users", compact(user, ["team_id"], ["is_admin", "priority"])), () => {
      resetUser();
      users.reload();
    });
  };
  const topUp = (e: Event) => {
    e.preventDefault();
    void act(() => api.post(`/admin/wallets/${encodeURIComponent(walletId)}/topup`, { amount: amount.trim() }), () => {
      setAmount("");
      wallet.reload();
    });
  };
  const vacation = (userId: unknown, on: boolean) =>
    void act(() => api.post(`/admin/users/${encodeURIComponent(String(userId))}/vacation`, { on }), users.reload);
  const decide = (approvalId: unknown, verdict: "approve" | "reject") =>
    void act(() => api.post(`/admin/approvals/${encodeURIComponent(String(approvalId))}/${verdict}`, {}), approvals.reload);
  const submitTransfer = (e: Event) => {
    e.preventDefault();
    void act(() => api.post("/admin/wallets/transfer", compact(transfer, ["from_wallet", "to_wallet"])), () => {
      resetTransfer();
      wallet.reload();
    });
  };

  return (
    <section>
      <h1>Teams &amp; users</h1>
      {error !== undefined && <ErrorBox error={error} />}
      <h2>Teams</h2>
      {teams.error !== undefined ? <ErrorBox error={teams.error} /> : <DataTable rows={rows(teams.data)} empty="No teams yet: create one below." />}
      <form class="card form-grid" onSubmit={submitTeam}>
        <h3>Create a team</h3>
        <label>Name<input name="team_name" value={team.name} onInput={onTeam("name")} /></label>
        <label>Common pool (credits)<input type="number" value={team.common_pool} onInput={onTeam("common_pool")} /></label>
        <label>Vacation share %<input type="number" min="0" max="100" value={team.vacation_share_pct} onInput={onTeam("vacation_share_pct")} /></label>
        <label>Hard limit (credits)<input type="number" value={team.hard_limit} onInput={onTeam("hard_limit")} /></label>
        <label class="check"><input type="checkbox" checked={team.allow_pool === "true"} onChange={onTeam("allow_pool")} />Members may draw on the pool</label>
        <button type="submit" disabled={!team.name.trim()}>Create team</button>
      </form>
      <h2>Users</h2>
      {users.error !== undefined ? (
        <ErrorBox error={users.error} />
      ) : (
        <DataTable
          rows={rows(users.data)}
          columns={["id", "email", "name", "team_id", "team_role", "is_admin", "priority", "personal_quota", "used_tokens", "status", "wallet_id"]}
          empty="No users yet: create one below."
          actions={(row) => (
            <span class="actions">
              <button type="button" class="secondary" onClick={() => vacation(row.id, true)}>Vacation on</button>
              <button type="button" class="secondary" onClick={() => vacation(row.id, false)}>Off</button>
            </span>
          )}
        />
      )}
      <form class="card form-grid" onSubmit={submitUser}>
        <h3>Create a user</h3>
        <label>Email<input name="user_email" type="email" value={user.email} onInput={onUser("email")} /></label>
        <label>Name<input name="user_name" value={user.name} onInput={onUser("name")} /></label>
        <label>Team id<input type="number" value={user.team_id} onInput={onUser("team_id")} /></label>
        <label>Personal quota (credits)<input type="number" value={user.personal_quota} onInput={onUser("personal_quota")} /></label>
        <label class="check"><input type="checkbox" checked={user.is_admin === "true"} onChange={onUser("is_admin")} />Admin</label>
        <label class="check"><input type="checkbox" checked={user.priority === "true"} onChange={onUser("priority")} />Priority (may use the team pool)</label>
        <button type="submit" disabled={!user.email.trim() || !user.name.trim()}>Create user</button>
      </form>
      <h2>Approval requests</h2>
      {approvals.error !== undefined ? (
        <ErrorBox error={approvals.error} />
      ) : (
        <DataTable
          rows={rows(approvals.data)}
          empty="No approval requests: users ask for more quota from their own key (POST /v1/me/approvals)."
          actions={(row) =>
            row.state === "pending" ? (
              <span class="actions">
                <button type="button" onClick={() => decide(row.id, "approve")}>Approve</button>
                <button type="button" class="danger" onClick={() => decide(row.id, "reject")}>Reject</button>
              </span>
            ) : null
          }
        />
      )}
      <h2>Wallets</h2>
      <div class="card form-grid">
        <label>Wallet id<input value={walletId} onChange={(e) => setWalletId((e.target as HTMLInputElement).value.trim())} /></label>
        {walletId && wallet.error !== undefined && <ErrorBox error={wallet.error} />}
        {wallet.data && <DataTable rows={[wallet.data]} />}
        {walletId && (
          <form onSubmit={topUp} class="inline">
            <label>Top up (credits)<input type="number" min="0.01" step="0.01" value={amount} onInput={(e) => setAmount((e.target as HTMLInputElement).value)} /></label>
            <button type="submit" disabled={!(Number(amount) > 0)}>Top up</button>
          </form>
        )}
      </div>
      <form class="card form-grid" onSubmit={submitTransfer}>
        <h3>Transfer between wallets</h3>
        <label>From wallet<input type="number" value={transfer.from_wallet} onInput={onTransfer("from_wallet")} /></label>
        <label>To wallet<input type="number" value={transfer.to_wallet} onInput={onTransfer("to_wallet")} /></label>
        <label>Amount (credits)<input type="number" min="0.01" step="0.01" value={transfer.amount} onInput={onTransfer("amount")} /></label>
        <button type="submit" disabled={!(Number(transfer.amount) > 0) || transfer.from_wallet === transfer.to_wallet}>Transfer</button>
      </form>
    </section>
  );
}
