// Typed errors from Alfred's error bodies and rate-limit headers (no gateway needed).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import {
  APIStatusError, AuthenticationError, ContentPolicyViolationError, InsufficientQuotaError, NotFoundError,
  RateLimitError, ServerError, VERSION, errorFromBody, parseDuration,
} from "../src/index.js";

const body = (code: string | null) => ({ error: { message: "no", type: "t", param: null, code, request_id: "req-1" } });

test("parseDuration reads Go durations and plain seconds", () => {
  const cases: Array<[string, number]> = [["20ms", 0.02], ["1s", 1], ["6m0s", 360], ["1m30.5s", 90.5], ["1h2m3s", 3723], ["7", 7]];
  for (const [text, seconds] of cases) assert.ok(Math.abs((parseDuration(text) ?? -1) - seconds) < 1e-9, text);
  for (const text of ["", "soon", "1x", "5m junk"]) assert.equal(parseDuration(text), null, text);
});

test("the error class follows the code, then the status", () => {
  const cases: Array<[number, string | null, Function]> = [
    [400, "content_policy_violation", ContentPolicyViolationError], [402, "insufficient_quota", InsufficientQuotaError],
    [429, "insufficient_quota", InsufficientQuotaError], [401, "invalid_api_key", AuthenticationError],
    [404, "not_found", NotFoundError], [429, "rate_limit_exceeded", RateLimitError], [503, "service_unavailable", ServerError],
  ];
  for (const [status, code, cls] of cases) {
    const error = errorFromBody(status, body(code), {});
    assert.equal(error.constructor, cls, `${status} ${code}`);
    assert.ok(error instanceof APIStatusError);
    assert.deepEqual([error.status, error.code, error.requestId], [status, code, "req-1"]);
  }
});

test("a rate-limit error carries its reset times", () => {
  const error = errorFromBody(429, body("rate_limit_exceeded"), {
    "retry-after": "2", "retry-after-ms": "1500", "x-ratelimit-reset-requests": "1m30.5s", "x-ratelimit-reset-tokens": "20ms",
  });
  assert.ok(error instanceof RateLimitError);
  assert.equal(error.retryAfter, 1.5);
  assert.deepEqual(error.resets, { requests: 90.5, tokens: 0.02 });
});

test("the SDK version is the one in sdk/VERSION", () => {
  const url = new URL("../../../VERSION", import.meta.url);
  assert.equal(VERSION, readFileSync(url, "utf8").trim());
});
