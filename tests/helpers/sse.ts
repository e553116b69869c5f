// Reading SSE streams and posting JSON, for tests against real server processes.

/** One SSE event as a client sees it (`id` is -1 when the event carries none; `at`: performance.now() on arrival). */
export interface SseEvent {
  id: number;
  event: string;
  data: Record<string, unknown>;
  at: number;
}

/** Reads SSE events as they arrive; stops after `limit` token events (or at the end). */
export async function readEvents(res: Response, limit = Infinity): Promise<SseEvent[]> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const out: SseEvent[] = [];
  let buf = "";
  while (out.filter((e) => e.event === "token").length < limit) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let at;
    while ((at = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, at);
      buf = buf.slice(at + 2);
      const e: SseEvent = { id: -1, event: "message", data: {}, at: performance.now() };
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) e.event = line.slice(7);
        if (line.startsWith("id: ")) e.id = Number(line.slice(4));
        if (line.startsWith("data: ")) e.data = JSON.parse(line.slice(6));
      }
      out.push(e);
    }
  }
  await reader.cancel().catch(() => {});
  return out;
}

/** The text of the token events. */
export const textOf = (events: SseEvent[]) =>
  events.map((e) => (e.data.text as string | undefined) ?? "").join("");

/** POSTs `body` as JSON. */
export const postJson = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
