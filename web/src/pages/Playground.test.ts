import { describe, expect, it } from "vitest";
import { deltaText } from "./Playground";

describe("deltaText", () => {
  it("joins the content deltas of a chat.completion.chunk and ignores [DONE] and role-only chunks", () => {
    expect(deltaText('{"choices":[{"index":0,"delta":{"content":"Hel"}}]}')).toBe("Hel");
    expect(deltaText('{"choices":[{"index":0,"delta":{"role":"assistant"}}]}')).toBe("");
    expect(deltaText('{"choices":[],"usage":{"total_tokens":3}}')).toBe("");
    expect(deltaText("[DONE]")).toBe("");
  });
});
