// Server-Sent Events as the W3C spec frames them: "event:"/"data:" lines, a blank line ends one.

/** One frame: its event name ("message" when absent) and its joined data lines. */
export interface ServerEvent {
  event: string;
  data: string;
}

/** Splits a byte stream into SSE frames (LF or CRLF line endings). */
export async function* readEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<ServerEvent> {
  const decoder = new TextDecoder();
  let buffer = "";
  let event = "";
  let data: string[] = [];
  const reader = body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let newline: number;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline).replace(/\r$/, "");
        buffer = buffer.slice(newline + 1);
        if (line === "") {
          if (data.length > 0 || event !== "") yield { event: event || "message", data: data.join("\n") };
          event = "";
          data = [];
        } else if (!line.startsWith(":")) {
          const colon = line.indexOf(":");
          const name = colon < 0 ? line : line.slice(0, colon);
          let field = colon < 0 ? "" : line.slice(colon + 1);
          if (field.startsWith(" ")) field = field.slice(1);
          if (name === "event") event = field;
          else if (name === "data") data.push(field);
        }
      }
      if (done) return;
    }
  } finally {
    reader.releaseLock();
  }
}
