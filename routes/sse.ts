import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { StoredEvent } from "../engine/mod.ts";

/**
 * Streams session events as SSE: `event: token|done|error`, `id: N` (the token's position in
 * the session), `data: JSON`. A client that disconnects only stops this stream.
 */
export function sessionEventStream(c: Context, events: AsyncGenerator<StoredEvent>): Response {
  return streamSSE(c, async (sse) => {
    let aborted = false;
    sse.onAbort(() => {
      aborted = true;
    });
    try {
      for await (const e of events) {
        if (aborted) break;
        // An error carries no id: a client resuming with Last-Event-ID must not skip the next token.
        const id = e.event === "error" ? undefined : String(e.position);
        await sse.writeSSE({ event: e.event, id, data: e.data });
      }
    } catch (err) {
      if (!aborted) {
        await sse.writeSSE({ event: "error", data: JSON.stringify({ message: (err as Error).message }) });
      }
    } finally {
      await events.return(undefined);
    }
  });
}
