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
import { assertResumesExactly, storedStateDType } from "./helpers/crash_resume.ts";
import { postJson, readEvents, textOf } from "./helpers/sse.ts";
import { setsidMissing, startWrangler, wranglerMissing } from "./helpers/wrangler.ts";

const missing = wranglerMissing ?? setsidMissing;
if (missing) console.warn(`workers_crash_resume_test skipped: ${missing}`);

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

    const b = await startWrangler({ persist, vars });
    try {
      const fresh = await assertResumesExactly(b.base, id, cut, prompt, request);

      // The resumed session's stored state is the uninterrupted one's: both go on alike.
      const next = { max_tokens: 16, seed: 3 };
      const [after, control] = await Promise.all(
        [id, fresh].map(async (s) =>
          textOf(await readEvents(await postJson(`${b.base}/v1/sessions/${s}/generate`, next)))
        ),
      );
      assert.ok(after.length > 0);
      assert.equal(after, control);

      assert.equal(await storedStateDType(b.base, id), "bf16", "the stored state is bf16");
    } finally {
      await b.stop();
      await Deno.remove(persist, { recursive: true });
    }
  },
});
