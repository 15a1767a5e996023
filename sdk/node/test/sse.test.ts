// SSE framing: frames split anywhere across chunks, CRLF endings, comments, multi-line data.
import assert from "node:assert/strict";
import { test } from "node:test";
import { readEvents } from "../src/sse.js";

function streamOf(chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
}

test("frames survive any chunking", async () => {
  const text = ": keep-alive\r\nevent: queued\r\ndata: {\"a\":1}\r\n\r\ndata: line one\ndata: line two\n\nevent: succeeded\ndata: {}\n\n";
  for (let size = 1; size <= text.length; size += 7) {
    const chunks: string[] = [];
    for (let i = 0; i < text.length; i += size) chunks.push(text.slice(i, i + size));
    const frames = [];
    for await (const frame of readEvents(streamOf(chunks))) frames.push(frame);
    assert.deepEqual(frames, [
      { event: "queued", data: "{\"a\":1}" },
      { event: "message", data: "line one\nline two" },
      { event: "succeeded", data: "{}" },
    ], `chunk size ${size}`);
  }
});
