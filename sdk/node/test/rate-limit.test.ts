// A real 429 (tests/sdk/sdk.yaml limits demo-chat-limited to 2 requests a minute) becomes a
// RateLimitError carrying the retry time and reset times from its headers.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Alfred, RateLimitError } from "../src/index.js";

const skip = process.env.ALFRED_BASE_URL ? false : "ALFRED_BASE_URL is not set (no running gateway)";
const chat = { model: "demo-chat-limited", messages: [{ role: "user", content: "hi" }] };

test("a spent rate limit is typed with reset times", { skip }, async (t) => {
  const alfred = new Alfred();
  const models = await alfred.json<{ data: Array<{ id: string }> }>("GET", "/v1/models");
  if (!models.data.some((m) => m.id === "demo-chat-limited")) return t.skip("no demo-chat-limited model");
  let caught: unknown;
  for (let i = 0; i < 4 && caught === undefined; i++) {
    await alfred.send("POST", "/v1/chat/completions", { body: chat }).then((r) => r.text(), (e: unknown) => { caught = e; });
  }
  assert.ok(caught instanceof RateLimitError, String(caught));
  assert.equal(caught.code, "rate_limit_exceeded");
  assert.ok(caught.requestId);
  assert.ok((caught.retryAfter ?? 0) > 0 && (caught.retryAfter ?? 99) <= 60);
  assert.ok((caught.resets.requests ?? 0) > 0 && (caught.resets.requests ?? 99) <= 60);
});
