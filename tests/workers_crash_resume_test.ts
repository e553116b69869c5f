// Sessions on Cloudflare's runtime outlive the process: a real `wrangler dev` (workerd, offline)
// is SIGKILLed, workerd with it, in the middle of a session's streamed generation; a second one on
// the same --persist-to folder (where the Durable Objects' SQLite files are) serves the session,
// and asked for the stream with the last Last-Event-ID the client saw, takes the generation over
// from its last checkpoint: the text before the kill plus the text after equals an uninterrupted
// run with the same seed, no token lost or repeated, and the session goes on from there. States
// are stored in bf16 here (STATE_DTYPE; the Deno crash test runs both types): the live state is
// rounded at each checkpoint, so the resume is still exact.
// Skipped, saying so, where wrangler is not installed or cannot be killed as a whole.
import assert from "node:assert/strict";
import { postJson, readEvents, textOf } from "./helpers/sse.ts";
import { setsidMissing, startWrangler, wranglerMissing } from "./helpers/wrangler.ts";

const missing = wranglerMissing ?? setsidMissing;
if (missing) console.warn(`workers_crash_resume_test skipped: ${missing}`);

const tokenIds = (events: { event: string; data: Record<string, unknown> }[]) =>
  events.filter((e) => e.event === "token").map((e) => e.data.token_id);

Deno.test({
  name:
    "a session stream cut by SIGKILL of wrangler dev continues on a new one with no token lost or repeated",
  ignore: missing !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const persist = await Deno.makeTempDir();
    const vars = { CHECKPOINT_EVERY: "8", LEASE_MS: "1500", STATE_DTYPE: "bf16" };
    const request = { max_tokens: 1500, temperature: 0.8, seed: 2024, ignore_eos: true };
    const prompt = { prompt: "And it came to pass" };

    const a = await startWrangler({ persist, vars });
    let id: string, cut;
    try {
      id = (await (await postJson(`${a.base}/v1/sessions`, prompt)).json()).id;
      cut = await readEvents(await postJson(`${a.base}/v1/sessions/${id}/generate`, request), 40);
    } finally {
      await a.kill();
    }
    assert.equal(cut.length, 40);
    const lastSeen = cut.at(-1)!.id;

    const b = await startWrangler({ persist, vars });
    try {
      const info = await (await fetch(`${b.base}/v1/sessions/${id}`)).json();
      assert.ok(
        info.tokens < cut[0].id + 1500,
        `the first process died before finishing (${info.tokens} tokens)`,
      );
      const rest = await readEvents(
        await fetch(`${b.base}/v1/sessions/${id}/stream`, { headers: { "last-event-id": String(lastSeen) } }),
      );
      assert.equal(rest.at(-1)!.event, "done");
      const positions = [...cut, ...rest].filter((e) => e.event === "token").map((e) => e.id);
      assert.deepEqual(
        positions,
        Array.from({ length: 1500 }, (_, i) => positions[0] + i),
        "none lost or repeated",
      );

      const fresh = (await (await postJson(`${b.base}/v1/sessions`, prompt)).json()).id;
      const whole = await readEvents(await postJson(`${b.base}/v1/sessions/${fresh}/generate`, request));
      assert.equal(textOf(cut) + textOf(rest), textOf(whole));
      assert.deepEqual([...tokenIds(cut), ...tokenIds(rest)], tokenIds(whole));

      // The resumed session's stored state is the uninterrupted one's: both go on alike.
      const next = { max_tokens: 16, seed: 3 };
      const [after, control] = await Promise.all(
        [id, fresh].map(async (s) =>
          textOf(await readEvents(await postJson(`${b.base}/v1/sessions/${s}/generate`, next)))
        ),
      );
      assert.ok(after.length > 0);
      assert.equal(after, control);

      // The stored state is bf16 (its header says so).
      const blob = new Uint8Array(await (await fetch(`${b.base}/v1/sessions/${id}/state`)).arrayBuffer());
      const headerLength = new DataView(blob.buffer).getUint32(12, true);
      const header = JSON.parse(new TextDecoder().decode(blob.subarray(16, 16 + headerLength)));
      assert.equal(header.dtype, "bf16");
    } finally {
      await b.stop();
      await Deno.remove(persist, { recursive: true });
    }
  },
});
