import { describe, expect, it } from "vitest";
import { Api, login, rows } from "./client";
import { ApiError } from "./errors";

type Route = (init: RequestInit) => Response;

function fakeFetch(routes: Record<string, Route>): typeof fetch {
  return async (input, init) => {
    const path = String(input);
    const route = routes[path];
    if (!route) return new Response(JSON.stringify({ error: { message: `no route ${path}`, code: "not_found" } }), { status: 404 });
    return route(init ?? {});
  };
}

const ok = (body: unknown): Route => () => new Response(JSON.stringify(body), { status: 200 });
const fail = (status: number, code: string): Route => () => new Response(JSON.stringify({ error: { message: "no", code } }), { status });

describe("Api", () => {
  it("sends the key as a bearer token and turns OpenAI errors into ApiError with a next step", async () => {
    let seen = "";
    const api = new Api("sk-1", "", fakeFetch({ "/x": (init) => ((seen = (init.headers as Record<string, string>).authorization), fail(429, "rate_limit_exceeded")(init)) }));
    const error = await api.get("/x").catch((e: unknown) => e);
    expect(seen).toBe("Bearer sk-1");
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(429);
    expect((error as ApiError).hint).toMatch(/rpm\/tpm/);
  });
  it("reports an unreachable gateway as a network error that says what to check", async () => {
    const api = new Api("k", "", async () => {
      throw new TypeError("Failed to fetch");
    });
    const error = (await api.get("/v1/models").catch((e: unknown) => e)) as ApiError;
    expect(error.status).toBe(0);
    expect(error.hint).toMatch(/gateway is running/);
  });
});

describe("login", () => {
  it("an admin key opens /admin/teams", async () => {
    const s = await login("master", "", fakeFetch({ "/v1/models": ok({ data: [] }), "/admin/teams": ok([]) }));
    expect(s.role).toBe("admin");
    expect(s.adminApi).toBe(true);
  });
  it("a user's key is refused by the admin API but has /v1/me", async () => {
    const s = await login("sk-user", "", fakeFetch({ "/v1/models": ok({ data: [] }), "/v1/me": ok({ email: "u@x" }), "/admin/teams": fail(403, "forbidden") }));
    expect(s.role).toBe("user");
    expect(s.me).toEqual({ email: "u@x" });
  });
  it("a gateway without an admin API still lets the master key in", async () => {
    const s = await login("master", "", fakeFetch({ "/v1/models": ok({ data: [] }) }));
    expect(s).toMatchObject({ role: "admin", adminApi: false });
  });
  it("a wrong key fails with 401 and says to log in again", async () => {
    const error = (await login("bad", "", fakeFetch({ "/v1/models": fail(401, "invalid_api_key") })).catch((e: unknown) => e)) as ApiError;
    expect(error.status).toBe(401);
    expect(error.hint).toMatch(/Log in again/);
  });
  it("an empty key is refused before any request", async () => {
    await expect(login("  ", "", fakeFetch({}))).rejects.toThrow(/Enter an API key/);
  });
});

describe("rows", () => {
  it("accepts bare arrays and {data: [...]}", () => {
    expect(rows([{ a: 1 }])).toEqual([{ a: 1 }]);
    expect(rows({ object: "list", data: [{ b: 2 }] })).toEqual([{ b: 2 }]);
    expect(rows(null)).toEqual([]);
  });
});
