// The second half of a crash-and-resume test, the same on every runtime: a server (`base`) that
// took over a session whose first server was killed after the client saw `cut` (the start of a
// `request` generation) streams the rest from the client's Last-Event-ID; the text before plus
// after must equal an uninterrupted run of the same request on a fresh session from `prompt`.
import assert from "node:assert/strict";
import { postJson, readEvents, type SseEvent, textOf } from "./sse.ts";

const tokenIds = (events: SseEvent[]) =>
  events.filter((e) => e.event === "token").map((e) => e.data.token_id);

/** Asserts the resumed stream completes the cut one exactly; returns the fresh session's id. */
export async function assertResumesExactly(
  base: string,
  id: string,
  cut: SseEvent[],
  prompt: Record<string, unknown>,
  request: { max_tokens: number } & Record<string, unknown>,
): Promise<string> {
  const total = request.max_tokens;
  const info = await (await fetch(`${base}/v1/sessions/${id}`)).json();
  assert.ok(
    info.tokens < cut[0].id + total,
    `the first server died before finishing (${info.tokens} tokens)`,
  );
  const rest = await readEvents(
    await fetch(`${base}/v1/sessions/${id}/stream`, { headers: { "last-event-id": String(cut.at(-1)!.id) } }),
  );
  assert.equal(rest.at(-1)!.event, "done");
  const positions = [...cut, ...rest].filter((e) => e.event === "token").map((e) => e.id);
  assert.deepEqual(
    positions,
    Array.from({ length: total }, (_, i) => positions[0] + i),
    "none lost or repeated",
  );

  const fresh = (await (await postJson(`${base}/v1/sessions`, prompt)).json()).id;
  const whole = await readEvents(await postJson(`${base}/v1/sessions/${fresh}/generate`, request));
  assert.equal(textOf(cut) + textOf(rest), textOf(whole));
  assert.deepEqual([...tokenIds(cut), ...tokenIds(rest)], tokenIds(whole));
  return fresh;
}

/** The element type session `id`'s exported state blob says it holds (its header's `dtype`). */
export async function storedStateDType(base: string, id: string): Promise<string> {
  const blob = new Uint8Array(await (await fetch(`${base}/v1/sessions/${id}/state`)).arrayBuffer());
  const headerLength = new DataView(blob.buffer).getUint32(12, true);
  return JSON.parse(new TextDecoder().decode(blob.subarray(16, 16 + headerLength))).dtype;
}
