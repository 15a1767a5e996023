import { ApiError, errorFromBody } from "./errors";
import { readSse, type SseEvent } from "./sse";

type Fetch = typeof fetch;

/** The console's one door to the gateway: every call carries the logged-in key as a bearer token. */
export class Api {
  readonly key: string;
  private readonly base: string;
  private readonly fetchImpl: Fetch;

  constructor(key: string, base = "", fetchImpl: Fetch = (...args) => fetch(...args)) {
    this.key = key;
    this.base = base;
    this.fetchImpl = fetchImpl;
  }

  private async send(method: string, path: string, body?: unknown, accept = "application/json"): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.key}`, accept };
    if (body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    try {
      response = await this.fetchImpl(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (exc) {
      throw new ApiError(0, "network_error", `Could not reach the gateway (${String(exc)}).`);
    }
    if (!response.ok) throw errorFromBody(response.status, await response.text());
    return response;
  }

  async get<T>(path: string): Promise<T> {
    return (await (await this.send("GET", path)).json()) as T;
  }

  async post<T>(path: string, body: unknown): Promise<T> {
    return (await (await this.send("POST", path, body)).json()) as T;
  }

  async patch<T>(path: string, body: unknown): Promise<T> {
    return (await (await this.send("PATCH", path, body)).json()) as T;
  }

  async delete(path: string): Promise<void> {
    await this.send("DELETE", path);
  }

  async text(path: string): Promise<string> {
    return (await this.send("GET", path, undefined, "text/plain")).text();
  }

  /** POST a body and read the answer as server-sent events (chat streaming). */
  async *postSse(path: string, body: unknown): AsyncGenerator<SseEvent> {
    yield* readSse(await this.send("POST", path, body, "text/event-stream"));
  }

  /** GET a server-sent event stream (image job progress). */
  async *getSse(path: string): AsyncGenerator<SseEvent> {
    yield* readSse(await this.send("GET", path, undefined, "text/event-stream"));
  }
}

/** A list endpoint's rows, whether it answers a bare array or an OpenAI-style ``{data: [...]}``. */
export function rows(payload: unknown): Array<Record<string, unknown>> {
  if (Array.isArray(payload)) return payload as Array<Record<string, unknown>>;
  if (payload && typeof payload === "object") {
    for (const field of ["data", "items", "rows", "results"]) {
      const value = (payload as Record<string, unknown>)[field];
      if (Array.isArray(value)) return value as Array<Record<string, unknown>>;
    }
  }
  return [];
}

/** Who the logged-in key belongs to, as far as the server says. */
export interface Session {
  api: Api;
  role: "admin" | "user";
  /** False when this server has no admin API yet (GET /admin/teams answered 404). */
  adminApi: boolean;
  me: Record<string, unknown> | null;
}

/**
 * Check a key against the server: it must open GET /v1/models; GET /admin/teams then tells an admin key
 * (200) from a user's key (401/403). The server enforces every permission; this only picks the pages.
 */
export async function login(key: string, base = "", fetchImpl?: Fetch): Promise<Session> {
  const api = new Api(key.trim(), base, fetchImpl);
  if (!api.key) throw new ApiError(400, "missing_key", "Enter an API key.", "Paste the master key, an admin user's key or your own key.");
  await api.get("/v1/models");
  let me: Record<string, unknown> | null = null;
  try {
    me = await api.get<Record<string, unknown>>("/v1/me");
  } catch (exc) {
    if (!(exc instanceof ApiError) || (exc.status !== 404 && exc.status !== 403)) throw exc;
  }
  if (me !== null) {
    // /v1/me answered, so the admin API is served; it says whether this key is an admin's.
    return { api, role: me.is_admin === true ? "admin" : "user", adminApi: true, me };
  }
  try {
    await api.get("/admin/teams");
    return { api, role: "admin", adminApi: true, me };
  } catch (exc) {
    if (!(exc instanceof ApiError)) throw exc;
    if (exc.status === 404) return { api, role: me ? "user" : "admin", adminApi: false, me };
    if (exc.status === 401 || exc.status === 403) {
      if (me === null && exc.status === 401) throw exc;
      return { api, role: "user", adminApi: true, me };
    }
    throw exc;
  }
}
