import { ApiError } from "../api/errors";

/** An error as a person should see it: what happened, then what to do next. */
export function ErrorBox({ error }: { error: unknown }) {
  if (error instanceof ApiError && error.status === 404) return <Unavailable />;
  const message = error instanceof Error ? error.message : String(error);
  const hint = error instanceof ApiError ? error.hint : "Reload the page; if it keeps failing, check the server log.";
  return (
    <div class="error" role="alert">
      <strong>{message}</strong>
      <p>{hint}</p>
    </div>
  );
}

/** Shown when an endpoint answers 404: this gateway has no such surface yet (never faked data). */
export function Unavailable({ what = "This page" }: { what?: string }) {
  return (
    <div class="unavailable" role="status">
      <strong>{what} is not available on this server.</strong>
      <p>Its admin endpoint answered 404: upgrade Alfred or enable the feature in the gateway's config.</p>
    </div>
  );
}
