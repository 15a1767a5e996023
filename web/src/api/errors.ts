/** An error from the gateway (or the network), with a sentence that tells a person what to do next. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly hint: string;

  constructor(status: number, code: string, message: string, hint?: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.hint = hint ?? nextStep(status, code);
  }
}

/** What a person can do about an error, chosen by status and Alfred's OpenAI-style error code. */
export function nextStep(status: number, code: string): string {
  if (status === 0) return "Check that the gateway is running and reachable, then try again.";
  if (code === "insufficient_quota") return "Top up the wallet on Teams & users, or raise its hard limit.";
  if (code === "content_policy_violation") return "Rephrase the request without the blocked content.";
  if (code === "model_not_found") return "Pick a model listed by GET /v1/models (the Playground lists them).";
  switch (status) {
    case 400:
    case 422:
      return "Correct the highlighted input and submit again.";
    case 401:
      return "Log in again with a valid key: it may be mistyped, expired or revoked.";
    case 403:
      return "This needs an admin key: log in with the master key or an admin user's key.";
    case 404:
      return "This server does not offer that yet; upgrade Alfred or enable the feature in its config.";
    case 409:
      return "Someone changed this meanwhile: reload the page and try again.";
    case 413:
      return "Send less: shorten the prompt or the upload.";
    case 429:
      return "Wait a moment (the limit resets shortly) or raise the key's rpm/tpm limits.";
    default:
      return status >= 500
        ? "The gateway or its upstream failed: retry, and if it persists check the Providers page and the server log."
        : "Try again; if it keeps failing, check the server log.";
  }
}

/** Build an ApiError from a non-2xx response body (OpenAI error JSON when the gateway sent it). */
export function errorFromBody(status: number, body: string): ApiError {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: string; code?: string | null; type?: string }; detail?: unknown };
    if (parsed.error && typeof parsed.error === "object") {
      return new ApiError(status, parsed.error.code ?? parsed.error.type ?? "error", parsed.error.message ?? `HTTP ${status}`);
    }
    if (parsed.detail !== undefined) {
      const detail = typeof parsed.detail === "string" ? parsed.detail : JSON.stringify(parsed.detail);
      return new ApiError(status, "error", detail);
    }
  } catch {
    // Not JSON: fall through to the status line.
  }
  return new ApiError(status, "error", body.trim().slice(0, 200) || `HTTP ${status}`);
}
