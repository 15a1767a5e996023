import { cleanup, render, screen } from "@testing-library/preact";
import { afterEach, describe, expect, it } from "vitest";
import { Api } from "../api/client";
import { ApiError } from "../api/errors";
import { Providers } from "../pages/Providers";
import { ErrorBox } from "./feedback";

afterEach(cleanup);

describe("ErrorBox", () => {
  it("says what happened and what to do next", () => {
    render(<ErrorBox error={new ApiError(402, "insufficient_quota", "wallet 3 is at its hard limit")} />);
    const alert = screen.getByRole("alert");
    expect(alert.textContent).toContain("wallet 3 is at its hard limit");
    expect(alert.textContent).toContain("Top up the wallet");
  });
  it("turns a 404 into 'not available on this server' rather than an error", () => {
    render(<ErrorBox error={new ApiError(404, "not_found", "no route")} />);
    expect(screen.getByRole("status").textContent).toContain("not available on this server");
  });
});

describe("Providers page", () => {
  it("marks itself unavailable when /admin/providers answers 404 (no invented data)", async () => {
    const api = new Api("k", "", async () => Response.json({ error: { message: "no route", code: "not_found" } }, { status: 404 }));
    render(<Providers api={api} />);
    expect((await screen.findByRole("status")).textContent).toContain("not available on this server");
    expect(screen.queryByRole("table")).toBeNull();
  });
  it("lists breakers with force buttons when served", async () => {
    const api = new Api("k", "", async () =>
      Response.json({ data: [{ deployment: "gpt/openai/gpt-4o-mini", breaker: "closed", forced: null, latency_ewma_ms: 12, latency_p95_ms: 30, error_rate: 0, in_flight: 0 }] }),
    );
    render(<Providers api={api} />);
    await screen.findByText("gpt/openai/gpt-4o-mini");
    expect(screen.getByText("Force open")).toBeTruthy();
  });
});
