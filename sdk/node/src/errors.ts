// Typed errors carrying Alfred's codes, built from its OpenAI-shaped error body
// ({"error": {message, type, param, code, request_id}}). The class follows the code first
// (content_policy_violation, insufficient_quota, rate_limit_exceeded), then the status.
import type { ImageJob } from "./generated.js";

/** Base of every error the SDK throws. */
export class AlfredError extends Error {
  override name = "AlfredError";
}

/** The gateway could not be reached or did not answer in time. */
export class APIConnectionError extends AlfredError {
  override name = "APIConnectionError";
}

export interface ErrorFields {
  status: number;
  code?: string | null;
  type?: string | null;
  param?: string | null;
  requestId?: string | null;
  headers?: Record<string, string>;
}

/** The gateway answered with an error status. */
export class APIStatusError extends AlfredError {
  override name = "APIStatusError";
  readonly status: number;
  readonly code: string | null;
  readonly type: string | null;
  readonly param: string | null;
  readonly requestId: string | null;
  readonly headers: Record<string, string>;

  constructor(message: string, fields: ErrorFields) {
    super(message);
    this.status = fields.status;
    this.code = fields.code ?? null;
    this.type = fields.type ?? null;
    this.param = fields.param ?? null;
    this.requestId = fields.requestId ?? null;
    this.headers = fields.headers ?? {};
  }
}

export class BadRequestError extends APIStatusError { override name = "BadRequestError"; }
export class ContentPolicyViolationError extends BadRequestError { override name = "ContentPolicyViolationError"; }
export class AuthenticationError extends APIStatusError { override name = "AuthenticationError"; }
export class InsufficientQuotaError extends APIStatusError { override name = "InsufficientQuotaError"; }
export class PermissionDeniedError extends APIStatusError { override name = "PermissionDeniedError"; }
export class NotFoundError extends APIStatusError { override name = "NotFoundError"; }
export class ConflictError extends APIStatusError { override name = "ConflictError"; }
export class ServerError extends APIStatusError { override name = "ServerError"; }

/** An image job that ended failed or cancelled; `job` is its last state. */
export class ImageJobFailedError extends APIStatusError {
  override name = "ImageJobFailedError";
  job: ImageJob | null = null;
}

const UNIT_S: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001 };

/** Seconds in a reset header: Go's duration format ("1m30.5s", "20ms") or plain seconds. */
export function parseDuration(text: string): number | null {
  const trimmed = text.trim();
  if (trimmed !== "" && !Number.isNaN(Number(trimmed))) return Number(trimmed);
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== trimmed) return null;
  return parts.reduce((sum, p) => sum + Number(p[1]) * (UNIT_S[p[2] ?? "s"] ?? 1), 0);
}

/** 429: a rate limit was reached; when to retry comes from the response headers. */
export class RateLimitError extends APIStatusError {
  override name = "RateLimitError";

  /** Seconds to wait (retry-after-ms when given, else retry-after). */
  get retryAfter(): number | null {
    const ms = this.headers["retry-after-ms"];
    if (ms !== undefined && !Number.isNaN(Number(ms))) return Number(ms) / 1000;
    const raw = this.headers["retry-after"];
    return raw === undefined ? null : parseDuration(raw);
  }

  /** Seconds until each limit resets, by unit ("requests", "tokens"), from x-ratelimit-reset-*. */
  get resets(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, value] of Object.entries(this.headers)) {
      if (!name.startsWith("x-ratelimit-reset-")) continue;
      const seconds = parseDuration(value);
      if (seconds !== null) out[name.slice("x-ratelimit-reset-".length)] = seconds;
    }
    return out;
  }
}

type ErrorClass = new (message: string, fields: ErrorFields) => APIStatusError;
const BY_CODE: Record<string, ErrorClass> = {
  content_policy_violation: ContentPolicyViolationError,
  insufficient_quota: InsufficientQuotaError,
  rate_limit_exceeded: RateLimitError,
};
const BY_STATUS: Record<number, ErrorClass> = {
  400: BadRequestError, 401: AuthenticationError, 402: InsufficientQuotaError, 403: PermissionDeniedError,
  404: NotFoundError, 409: ConflictError, 422: BadRequestError, 429: RateLimitError,
};

/** The typed error for a decoded body (tolerating one that is not OpenAI-shaped). */
export function errorFromBody(status: number, body: unknown, headers: Record<string, string>): APIStatusError {
  const inner = (body as { error?: unknown } | null)?.error;
  const error = (inner && typeof inner === "object" ? inner : { message: `HTTP ${status}: ${String(body).slice(0, 200)}` }) as Record<string, unknown>;
  const code = typeof error.code === "string" ? error.code : null;
  const cls = (code !== null ? BY_CODE[code] : undefined) ?? BY_STATUS[status] ?? (status >= 500 ? ServerError : APIStatusError);
  return new cls(String(error.message ?? `HTTP ${status}`), {
    status,
    code,
    type: typeof error.type === "string" ? error.type : null,
    param: typeof error.param === "string" ? error.param : null,
    requestId: typeof error.request_id === "string" ? error.request_id : headers["x-request-id"] ?? null,
    headers,
  });
}

export function headersOf(response: Response): Record<string, string> {
  const out: Record<string, string> = {};
  response.headers.forEach((value, key) => { out[key.toLowerCase()] = value; });
  return out;
}

export async function errorFromResponse(response: Response): Promise<APIStatusError> {
  const text = await response.text();
  let body: unknown = text;
  try { body = JSON.parse(text); } catch { /* not JSON: keep the text for the message */ }
  return errorFromBody(response.status, body, headersOf(response));
}
