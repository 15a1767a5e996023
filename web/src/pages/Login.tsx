import { useState } from "preact/hooks";
import { login, type Session } from "../api/client";
import { ErrorBox } from "../components/feedback";

/** Log in with the master key, an admin user's key or a user's own key. */
export function Login({ onSession, base = "" }: { onSession: (s: Session) => void; base?: string }) {
  const [key, setKey] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      onSession(await login(key, base));
    } catch (exc) {
      setError(exc);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <form class="card" onSubmit={(e) => void submit(e)}>
        <h1>Alfred console</h1>
        <label>
          API key
          <input name="key" type="password" autocomplete="off" value={key} onInput={(e) => setKey((e.target as HTMLInputElement).value)} placeholder="master key, admin key or your own key" />
        </label>
        <button type="submit" disabled={busy}>
          {busy ? "Checking…" : "Log in"}
        </button>
        {error !== undefined && <ErrorBox error={error} />}
      </form>
    </main>
  );
}
