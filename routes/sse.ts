import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { StoredEvent } from "../engine/mod.ts";

/**
 * Streams session events as SSE: `event: token|done|error|paused`, `id: N` (the token's position
 * in the session), `data: JSON`. A client that disconnects only stops this stream. After `paused`
 * (the run's token budget is spent, its state checkpointed) the stream ends; `GET
 * /v1/sessions/:id/stream` with the last id continues it.
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
        // An error or a pause carries no id: a client resuming with Last-Event-ID must not skip a token.
        const id = e.event === "error" || e.event === "paused" ? undefined : String(e.position);
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
