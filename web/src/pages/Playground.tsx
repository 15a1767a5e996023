import { useState } from "preact/hooks";
import { rows, type Api } from "../api/client";
import { WEAPON_FIELDS, type ImageJob, type JobEvent } from "../api/types";
import { ErrorBox } from "../components/feedback";
import { useLoad } from "../components/load";

/** The text delta carried by one chat.completion.chunk (empty when it carries none). */
export function deltaText(data: string): string {
  if (data === "[DONE]") return "";
  const chunk = JSON.parse(data) as { choices?: Array<{ delta?: { content?: string | null } }> };
  return chunk.choices?.map((c) => c.delta?.content ?? "").join("") ?? "";
}

/** Chat with any chat model (streamed) and the weapon Forge (an image job with live progress). */
export function Playground({ api }: { api: Api }) {
  const models = useLoad(() => api.get<unknown>("/v1/models"), [api]);
  return (
    <section>
      <h1>Playground</h1>
      {models.error !== undefined ? <ErrorBox error={models.error} /> : <Chat api={api} models={rows(models.data).map((m) => String(m.id))} />}
      <Forge api={api} />
    </section>
  );
}

function Chat({ api, models }: { api: Api; models: string[] }) {
  const [model, setModel] = useState("");
  const [prompt, setPrompt] = useState("");
  const [answer, setAnswer] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const chosen = model || models[0] || "";
  const send = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setAnswer("");
    setError(undefined);
    try {
      const body = { model: chosen, stream: true, messages: [{ role: "user", content: prompt }] };
      for await (const event of api.postSse("/v1/chat/completions", body)) {
        if (event.event === "error") throw new Error(event.data);
        const text = deltaText(event.data);
        if (text) setAnswer((a) => a + text);
      }
    } catch (exc) {
      setError(exc);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card" onSubmit={(e) => void send(e)}>
      <h2>Chat</h2>
      <label>
        Model{" "}
        <select name="model" value={chosen} onChange={(e) => setModel((e.target as HTMLSelectElement).value)}>
          {models.map((m) => (
            <option key={m} value={m}>
              {m}
            </option>
          ))}
        </select>
      </label>
      <textarea name="prompt" rows={3} value={prompt} placeholder="Say something" onInput={(e) => setPrompt((e.target as HTMLTextAreaElement).value)} />
      <button type="submit" disabled={busy || !prompt.trim() || !chosen}>
        {busy ? "Streaming…" : "Send"}
      </button>
      {error !== undefined && <ErrorBox error={error} />}
      <pre class="answer" data-answer>
        {answer}
      </pre>
    </form>
  );
}

function Forge({ api }: { api: Api }) {
  const [fields, setFields] = useState<Record<string, string>>({ weapon_type: "sword", element: "fire", rarity: "epic", style: "painterly icon" });
  const [progress, setProgress] = useState<number | null>(null);
  const [status, setStatus] = useState("");
  const [images, setImages] = useState<string[]>([]);
  const [error, setError] = useState<unknown>(undefined);
  const forge = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError(undefined);
    setImages([]);
    setProgress(0);
    setStatus("submitting");
    try {
      const first = await api.post<ImageJob & { data: Array<{ url?: string }> }>("/v1/images/generations", { preset: "weapon", ...fields, wait: 0 });
      if (!first.id || first.status === undefined) {
        setImages(first.data.map((d) => d.url ?? "").filter(Boolean));
        setStatus("succeeded");
        setProgress(1);
        return;
      }
      setStatus(first.status);
      for await (const event of api.getSse(`/v1/images/jobs/${encodeURIComponent(first.id)}/events`)) {
        if (event.event === "error") throw new Error(event.data);
        const frame = JSON.parse(event.data) as JobEvent;
        setStatus(frame.job.status);
        setProgress(frame.progress ?? frame.job.progress);
        if (frame.job.status === "succeeded") setImages(frame.job.data.map((d) => d.url ?? "").filter(Boolean));
        if (frame.job.error) throw new Error(`${frame.job.error.message} (${frame.job.error.code})`);
      }
    } catch (exc) {
      setError(exc);
    }
  };
  return (
    <form class="card" onSubmit={(e) => void forge(e)}>
      <h2>Weapon Forge</h2>
      <div class="form-grid">
        {Object.entries(WEAPON_FIELDS).map(([name, choices]) => (
          <label key={name}>
            {name.replace("_", " ")}
            <select name={name} value={fields[name]} onChange={(e) => setFields({ ...fields, [name]: (e.target as HTMLSelectElement).value })}>
              {choices.map((c) => (
                <option key={c} value={c}>
                  {c}
                </option>
              ))}
            </select>
          </label>
        ))}
      </div>
      <button type="submit">Forge</button>
      {progress !== null && (
        <p>
          {status} <progress max={1} value={progress} />
        </p>
      )}
      {error !== undefined && <ErrorBox error={error} />}
      <div class="gallery">
        {images.map((url) => (
          <img key={url} src={url} alt={`${fields.rarity} ${fields.element} ${fields.weapon_type}`} />
        ))}
      </div>
    </form>
  );
}
