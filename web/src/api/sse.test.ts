import { describe, expect, it } from "vitest";
import { readSse, SseParser } from "./sse";

describe("SseParser", () => {
  it("assembles events split across chunks, names, multi-line data, comments and CRLF", () => {
    const parser = new SseParser();
    expect(parser.push('data: {"a"')).toEqual([]);
    expect(parser.push(':1}\n\n: keep-alive\n\nevent: progress\r\ndata: x\r\ndata: y\r\n\r\n')).toEqual([
      { event: "message", data: '{"a":1}' },
      { event: "progress", data: "x\ny" },
    ]);
  });
});

describe("readSse", () => {
  it("reads a Response stream to its last event even without a trailing blank line", async () => {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        const enc = new TextEncoder();
        controller.enqueue(enc.encode("data: one\n\nda"));
        controller.enqueue(enc.encode("ta: [DONE]"));
        controller.close();
      },
    });
    const events = [];
    for await (const e of readSse(new Response(body))) events.push(e.data);
    expect(events).toEqual(["one", "[DONE]"]);
  });
});
