// The client: `new Alfred({ apiKey, baseURL })`, with `images` (jobs) and `admin` groups.
// fetch only (Node 18+ and browsers); no runtime dependencies.
import { APIConnectionError, ImageJobFailedError, errorFromBody, errorFromResponse, headersOf } from "./errors.js";
import type {
  ApprovalIn, ApprovalOut, AuditOut, CheckOut, CreatedKeyOut, ImageJob, ImageRequest, ImagesResponse, KeyIn, KeyOut,
  MeOut, PeerTransferIn, PostingOut, TeamIn, TeamOut, TopupIn, TransactionOut, TransferIn, UsageOut, UserIn, UserOut,
  VacationOut, VerdictOut, WalletOut,
} from "./generated.js";
import { readEvents } from "./sse.js";
import { VERSION } from "./version.js";

export type JsonObject = Record<string, unknown>;
type Query = Record<string, string | number | boolean | null | undefined>;

export interface ClientOptions {
  /** Defaults to the ALFRED_API_KEY environment variable. */
  apiKey?: string;
  /** Defaults to ALFRED_BASE_URL, then http://127.0.0.1:8080. */
  baseURL?: string;
  /** Per-request timeout in milliseconds (not applied to event streams). */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/** One step of a job: `type` is a job status or "progress"; `job` is the job at that moment. */
export interface JobEvent {
  type: string;
  job_id: string;
  at: number;
  progress: number | null;
  message: string | null;
  job: ImageJob;
}

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
const env = (name: string): string | undefined =>
  (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env[name];

/** A client for one gateway. */
export class Alfred {
  readonly baseURL: string;
  readonly images: Images;
  readonly admin: Admin;
  readonly #headers: Record<string, string>;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;

  constructor(options: ClientOptions = {}) {
    this.baseURL = (options.baseURL ?? env("ALFRED_BASE_URL") ?? "http://127.0.0.1:8080").replace(/\/+$/, "");
    const key = options.apiKey ?? env("ALFRED_API_KEY") ?? "";
    this.#headers = { accept: "application/json", "user-agent": `alfred-sdk-node/${VERSION}` };
    if (key) this.#headers.authorization = `Bearer ${key}`;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.images = new Images(this);
    this.admin = new Admin(this);
  }

  /** Send one request; an error status throws its typed error. */
  async send(method: string, path: string, options: { body?: unknown; query?: Query; stream?: boolean } = {}): Promise<Response> {
    const url = new URL(this.baseURL + path);
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined && v !== null) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { ...this.#headers };
    if (options.body !== undefined) headers["content-type"] = "application/json";
    if (options.stream) headers.accept = "text/event-stream";
    let response: Response;
    try {
      response = await this.#fetch(url, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: options.stream ? undefined : AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (cause) {
      throw new APIConnectionError(`${method} ${path}: ${String(cause)}`, { cause });
    }
    if (response.status >= 400) throw await errorFromResponse(response);
    return response;
  }

  async json<T = JsonObject>(method: string, path: string, options: { body?: unknown; query?: Query } = {}): Promise<T> {
    const response = await this.send(method, path, options);
    const text = await response.text();
    return (text ? JSON.parse(text) : null) as T;
  }

  /** Your own identity, team, key, wallets, limits and usage (GET /v1/me, with your own key). */
  me(): Promise<MeOut> {
    return this.json("GET", "/v1/me");
  }

  /** Ask your team's admins for credits; one of them approves. */
  askForCredits(body: ApprovalIn): Promise<ApprovalOut> {
    return this.json("POST", "/v1/me/approvals", { body });
  }

  /** Give credits to a teammate. */
  giveCredits(body: PeerTransferIn): Promise<PostingOut> {
    return this.json("POST", "/v1/me/transfers", { body });
  }

  /** Go on vacation (lending part of your unused quota to the team pool) or come back. */
  setVacation(on: boolean): Promise<VacationOut> {
    return this.json("POST", "/v1/me/vacation", { body: { on } });
  }
}

const jobPath = (id: string): string => `/v1/images/jobs/${encodeURIComponent(id)}`;

/** Image jobs: submit, get, cancel, stream events, wait with progress, generate. */
export class Images {
  constructor(private readonly client: Alfred) {}

  /** Queue a generation (wait=0) and return its job. */
  async submit(request: ImageRequest & JsonObject): Promise<ImageJob> {
    const response = await this.client.send("POST", "/v1/images/generations", { body: { ...request, wait: 0 } });
    const body = (await response.json()) as ImageJob | ImagesResponse;
    // 202 carries the job; 200 (done at once, e.g. a cache hit) names it.
    return response.status === 202 ? (body as ImageJob) : this.get((body as ImagesResponse).alfred.job_id);
  }

  get(id: string): Promise<ImageJob> {
    return this.client.json<ImageJob>("GET", jobPath(id));
  }

  /** Cancel a live job; a finished one comes back as it is. */
  cancel(id: string): Promise<ImageJob> {
    return this.client.json<ImageJob>("DELETE", jobPath(id));
  }

  /** The job's events until it ends (what already happened comes first). */
  async *events(id: string): AsyncGenerator<JobEvent> {
    const response = await this.client.send("GET", `${jobPath(id)}/events`, { stream: true });
    if (!response.body) return;
    for await (const frame of readEvents(response.body)) {
      const data = JSON.parse(frame.data) as JobEvent & { error?: unknown };
      if (frame.event === "error") throw errorFromBody(500, data, headersOf(response));
      yield data;
    }
  }

  /** Follow the events until the job ends and return it, calling `onProgress` at each event. */
  async wait(id: string, onProgress?: (event: JobEvent) => void | Promise<void>): Promise<ImageJob> {
    for await (const event of this.events(id)) {
      await onProgress?.(event);
      if (TERMINAL.has(event.type)) return event.job;
    }
    return this.get(id); // the stream closed early: the job itself says where it stands
  }

  /** Submit and wait; a job that fails or is cancelled throws ImageJobFailedError. */
  async generate(request: ImageRequest & JsonObject, onProgress?: (event: JobEvent) => void | Promise<void>): Promise<ImageJob> {
    let job = await this.submit(request);
    if (!TERMINAL.has(job.status)) job = await this.wait(job.id, onProgress);
    if (job.status !== "succeeded") throw jobFailure(job);
    return job;
  }
}

export function jobFailure(job: ImageJob): ImageJobFailedError {
  const error = new ImageJobFailedError(job.error?.message ?? `image job ${job.id} ${job.status}`, {
    status: job.status === "cancelled" ? 409 : 502,
    code: job.error?.code ?? job.status,
  });
  error.job = job;
  return error;
}

const seg = (id: string | number): string => encodeURIComponent(String(id));

/** The admin API (the master key or an admin user's key); bodies and answers are the generated types. */
export class Admin {
  constructor(private readonly client: Alfred) {}

  createTeam(body: TeamIn): Promise<TeamOut> { return this.client.json("POST", "/admin/teams", { body }); }
  listTeams(): Promise<TeamOut[]> { return this.client.json("GET", "/admin/teams"); }
  createUser(body: UserIn): Promise<UserOut> { return this.client.json("POST", "/admin/users", { body }); }
  listUsers(query?: Query): Promise<UserOut[]> { return this.client.json("GET", "/admin/users", { query }); }
  /** `key` in the answer is the key itself, shown this once. */
  createKey(body: KeyIn): Promise<CreatedKeyOut> { return this.client.json("POST", "/admin/keys", { body }); }
  listKeys(query?: Query): Promise<KeyOut[]> { return this.client.json("GET", "/admin/keys", { query }); }
  /** Its next call fails with 401 on every gateway process within a second. */
  revokeKey(id: number): Promise<KeyOut> { return this.client.json("DELETE", `/admin/keys/${seg(id)}`); }
  getWallet(id: number): Promise<WalletOut> { return this.client.json("GET", `/admin/wallets/${seg(id)}`); }
  topup(id: number, body: TopupIn): Promise<PostingOut> { return this.client.json("POST", `/admin/wallets/${seg(id)}/topup`, { body }); }
  transfer(body: TransferIn): Promise<PostingOut> { return this.client.json("POST", "/admin/wallets/transfer", { body }); }
  listTransactions(query?: Query): Promise<TransactionOut[]> { return this.client.json("GET", "/admin/transactions", { query }); }
  /** Usage grouped as asked (by user, team, model, provider or day). */
  usage(query?: Query): Promise<UsageOut[]> { return this.client.json("GET", "/admin/usage", { query }); }
  audit(query?: Query): Promise<AuditOut[]> { return this.client.json("GET", "/admin/audit", { query }); }
  /** Walk the audit chain; a broken one names its first bad row (`seq`, `problem`). */
  verifyAudit(): Promise<VerdictOut> { return this.client.json("GET", "/admin/audit/verify"); }
  /** Balances against the sum of their entries; a healthy ledger has no drift. */
  ledgerCheck(): Promise<CheckOut> { return this.client.json("GET", "/admin/ledger/check"); }
}
