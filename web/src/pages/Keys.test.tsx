import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Api } from "../api/client";
import { Keys, keyRequest } from "./Keys";

afterEach(cleanup);

function server() {
  const keys: Array<Record<string, unknown>> = [];
  const posted: unknown[] = [];
  const fetchImpl: typeof fetch = async (input, init) => {
    const path = String(input);
    const method = init?.method ?? "GET";
    if (path === "/admin/keys" && method === "GET") return Response.json({ data: keys });
    if (path === "/admin/keys" && method === "POST") {
      const body = JSON.parse(String(init?.body)) as Record<string, unknown>;
      posted.push(body);
      keys.push({ id: 7, name: body.name, prefix: "sk-alf-ab", is_active: true });
      return Response.json({ id: 7, key: "sk-alf-abcdef123456", name: body.name });
    }
    if (path === "/admin/keys/7" && method === "DELETE") {
      keys[0].is_active = false;
      return new Response(null, { status: 204 });
    }
    return Response.json({ error: { message: "nope", code: "not_found" } }, { status: 404 });
  };
  return { api: new Api("master", "", fetchImpl), keys, posted };
}

describe("keyRequest", () => {
  it("sends only the limits that were filled in, models as a list, expiry as ISO", () => {
    const body = keyRequest({ user_id: "3", name: " ci ", allowed_models: "a, b,", rpm_limit: "60", tpm_limit: "", budget: "", expires_at: "2030-01-02T03:04" });
    expect(body).toMatchObject({ user_id: 3, name: "ci", allowed_models: ["a", "b"], rpm_limit: 60 });
    expect(body).not.toHaveProperty("tpm_limit");
    expect(String(body.expires_at)).toMatch(/^2030-01-0\dT/);
  });
});

describe("Keys page", () => {
  it("shows a new key once with a copy button, then lets it be revoked", async () => {
    const { api, posted } = server();
    const writeText = vi.fn(async () => undefined);
    Object.assign(navigator, { clipboard: { writeText } });
    vi.spyOn(window, "confirm").mockReturnValue(true);
    render(<Keys api={api} />);
    await screen.findByText(/No keys yet/);
    fireEvent.input(screen.getByLabelText("User id"), { target: { value: "1" } });
    fireEvent.input(screen.getByLabelText("Name"), { target: { value: "ci" } });
    fireEvent.click(screen.getByText("Create key"));
    const shown = await screen.findByText("sk-alf-abcdef123456");
    expect(shown).toBeTruthy();
    expect(posted).toEqual([{ user_id: 1, name: "ci" }]);
    fireEvent.click(screen.getByText("Copy"));
    await waitFor(() => expect(writeText).toHaveBeenCalledWith("sk-alf-abcdef123456"));
    await screen.findByText("Copied");
    fireEvent.click(screen.getByText("Done"));
    expect(screen.queryByText("sk-alf-abcdef123456")).toBeNull();
    fireEvent.click(await screen.findByText("Revoke"));
    await screen.findByText("revoked");
  });

  it("shows the server's error with what to do next", async () => {
    const api = new Api("k", "", async (_input, init) =>
      (init?.method ?? "GET") === "GET" ? Response.json([]) : Response.json({ error: { message: "user 9 does not exist", code: "invalid_request" } }, { status: 400 }),
    );
    render(<Keys api={api} />);
    fireEvent.input(screen.getByLabelText("User id"), { target: { value: "9" } });
    fireEvent.input(screen.getByLabelText("Name"), { target: { value: "x" } });
    fireEvent.click(screen.getByText("Create key"));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("user 9 does not exist");
    expect(alert.textContent).toContain("Correct the highlighted input");
  });
});
