import { cleanup, fireEvent, render, screen } from "@testing-library/preact";
import { afterEach, describe, expect, it } from "vitest";
import { Api } from "../api/client";
import { Audit, auditQuery, verdictOf } from "./Audit";

afterEach(cleanup);

describe("verdictOf", () => {
  it("reads intact and broken answers", () => {
    // The shape of GET /admin/audit/verify (src/alfred/api/admin/audit.py: VerdictOut).
    const intact = { ok: true, rows_checked: 3, head_seq: 3, head_hash: "ab", problem: null, seq: null, message: "3 rows verify" };
    expect(verdictOf(intact)).toEqual({ ok: true, brokenId: null, reason: "3 rows verify" });
    const broken = { ok: false, rows_checked: 1, head_seq: 3, head_hash: "ab", problem: "altered", seq: 42, message: "row 42 was altered" };
    expect(verdictOf(broken)).toEqual({ ok: false, brokenId: "42", reason: "row 42 was altered" });
  });
});

describe("auditQuery", () => {
  it("encodes only filled filters", () => {
    expect(auditQuery({ event_type: "key.created", user_id: "", limit: "50" })).toBe("?event_type=key.created&limit=50");
    expect(auditQuery({ event_type: " " })).toBe("");
  });
});

describe("Audit page", () => {
  it("verify chain names and highlights the first broken row", async () => {
    const paths: string[] = [];
    const api = new Api("k", "", async (input) => {
      const path = String(input);
      paths.push(path);
      if (path.startsWith("/admin/audit/verify")) return Response.json({ ok: false, seq: 2, problem: "altered", message: "row 2 was altered." });
      return Response.json([{ seq: 1, event_type: "team.created" }, { seq: 2, event_type: "key.created" }]);
    });
    const { container } = render(<Audit api={api} />);
    await screen.findByText("key.created");
    fireEvent.click(screen.getByText("Verify chain"));
    await screen.findByText(/broken at row 2/);
    expect(container.querySelectorAll("tr.broken")).toHaveLength(1);
    expect(container.querySelector("tr.broken")?.textContent).toContain("key.created");
    fireEvent.input(screen.getByLabelText("Event type"), { target: { value: "key.revoked" } });
    fireEvent.click(screen.getByText("Filter"));
    await screen.findByText("key.created");
    expect(paths).toContain("/admin/audit?event_type=key.revoked&limit=100");
  });
});
