// A generation longer than one invocation's token budget (TOKENS_PER_INVOCATION) pauses, its state
// checkpointed, with a visible `paused` event; each `GET .../stream` with the last Last-Event-ID
// continues it from that checkpoint: the text across every invocation equals an uninterrupted
// seeded run, no token lost or repeated. A JSON answer waits the pauses out. Real server processes.
import assert from "node:assert/strict";
import { postJson, readEvents, type SseEvent, textOf } from "./helpers/sse.ts";
import { startServer } from "./helpers/server.ts";

const BUDGET = 40;
const request = { max_tokens: 150, temperature: 0.8, seed: 77, ignore_eos: true };
const prompt = { prompt: "And God said" };

/** A seeded session generation streamed to its end, reconnecting after each pause; the runs' events. */
async function streamAcrossPauses(base: string): Promise<SseEvent[][]> {
  const id = (await (await postJson(`${base}/v1/sessions`, prompt)).json()).id;
  const runs = [await readEvents(await postJson(`${base}/v1/sessions/${id}/generate`, request))];
  while (runs.at(-1)!.at(-1)?.event === "paused" && runs.length < 20) {
    const last = runs.flat().filter((e) => e.event === "token").at(-1)!.id;
    const headers = { "last-event-id": String(last) };
    runs.push(await readEvents(await fetch(`${base}/v1/sessions/${id}/stream`, { headers })));
  }
  return runs;
}

Deno.test({
  name: "a generation past TOKENS_PER_INVOCATION pauses and continues exactly, run by run",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const paced = await startServer({
      STORE: "memory",
      TOKENS_PER_INVOCATION: String(BUDGET),
      CHECKPOINT_EVERY: "16",
    });
    const whole = await startServer({ STORE: "memory" });
    try {
      const runs = await streamAcrossPauses(paced.base);
      assert.equal(runs.length, Math.ceil(request.max_tokens / BUDGET));
      for (const run of runs.slice(0, -1)) {
        assert.equal(run.filter((e) => e.event === "token").length, BUDGET);
        const paused = run.at(-1)!;
        assert.equal(paused.event, "paused");
        assert.equal(paused.id, -1, "a pause carries no id");
        assert.equal(paused.data.generated, BUDGET);
      }
      assert.equal(runs.at(-1)!.at(-1)!.event, "done");
      const events = runs.flat();
      const positions = events.filter((e) => e.event === "token").map((e) => e.id);
      assert.deepEqual(
        positions,
        Array.from({ length: 150 }, (_, i) => positions[0] + i),
        "none lost or repeated",
      );

      const [control] = await streamAcrossPauses(whole.base);
      assert.equal(control.at(-1)!.event, "done");
      assert.equal(textOf(events), textOf(control));
      assert.deepEqual(events.at(-1)!.data.usage, control.at(-1)!.data.usage);

      // Without a stream there is no later request to continue it: the answer waits the pauses out.
      const json = await Promise.all([paced.base, whole.base].map(async (base) => {
        const id = (await (await postJson(`${base}/v1/sessions`, prompt)).json()).id;
        return await (await postJson(`${base}/v1/sessions/${id}/generate`, { ...request, stream: false }))
          .json();
      }));
      assert.equal(json[0].token_ids.length, 150);
      assert.equal(json[0].text, json[1].text);
      assert.equal(json[0].text, textOf(control));

      // A paused generation can be cancelled: it is taken over only to end with a done event, "cancelled".
      const id = (await (await postJson(`${paced.base}/v1/sessions`, prompt)).json()).id;
      const first = await readEvents(await postJson(`${paced.base}/v1/sessions/${id}/generate`, request));
      assert.equal(first.at(-1)!.event, "paused");
      const cancel = await (await postJson(`${paced.base}/v1/sessions/${id}/cancel`, {})).json();
      assert.equal(cancel.cancelled, true);
      const headers = { "last-event-id": String(first.at(-2)!.id) };
      const rest = await readEvents(await fetch(`${paced.base}/v1/sessions/${id}/stream`, { headers }));
      assert.deepEqual(rest.map((e) => e.event), ["done"]);
      assert.equal(rest[0].data.finish_reason, "cancelled");
      const info = await (await fetch(`${paced.base}/v1/sessions/${id}`)).json();
      assert.equal(info.tokens, first.at(-2)!.id + 1, "no token generated after the pause");
    } finally {
      for (const server of [paced, whole]) {
        server.child.kill();
        await server.child.status;
      }
    }
  },
});
