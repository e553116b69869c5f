// A server process is SIGKILLed in the middle of a streamed generation; a second process on the
// same Deno KV file is asked for the stream with the last Last-Event-ID the client saw. The text
// before the kill plus the text after equals an uninterrupted run with the same seed. With
// STATE_DTYPE=bf16 too: checkpoints store the state rounded, and the live state goes on rounded, so
// the resume is still exact.
import assert from "node:assert/strict";
import { assertResumesExactly, storedStateDType } from "./helpers/crash_resume.ts";
import { startServer } from "./helpers/server.ts";
import { postJson, readEvents } from "./helpers/sse.ts";

const post = (url: string, body: unknown) => postJson(url, body);

for (const stateDType of ["f32", "bf16"]) {
  Deno.test(`a stream cut by SIGKILL continues on another process with no token lost or repeated (${stateDType} states)`, async () => {
    const dir = await Deno.makeTempDir();
    const store = `${dir}/sessions.kv`;
    const request = { max_tokens: 1500, temperature: 0.8, seed: 2024, ignore_eos: true };
    const prompt = { prompt: "And it came to pass" };

    const env = { STORE: store, CHECKPOINT_EVERY: "8", LEASE_MS: "1500", STATE_DTYPE: stateDType };
    const a = await startServer(env);
    const id = (await (await post(`${a.base}/v1/sessions`, prompt)).json()).id;
    const cut = await readEvents(await post(`${a.base}/v1/sessions/${id}/generate`, request), 40);
    a.child.kill("SIGKILL");
    await a.child.status;
    assert.equal(cut.length, 40);

    const b = await startServer(env);
    try {
      await assertResumesExactly(b.base, id, cut, prompt, request);
      assert.equal(await storedStateDType(b.base, id), stateDType, "the stored state is in the mode's type");
    } finally {
      b.child.kill("SIGTERM");
      await b.child.status;
    }
  });
}

Deno.test("SIGTERM lets a running generation finish and save before the process exits", async () => {
  const store = `${await Deno.makeTempDir()}/sessions.kv`;
  const a = await startServer({ STORE: store });
  const id = (await (await post(`${a.base}/v1/sessions`, { prompt: "Blessed are" })).json()).id;
  const first = await readEvents(
    await post(`${a.base}/v1/sessions/${id}/generate`, { max_tokens: 600, seed: 1 }),
    5,
  );
  a.child.kill("SIGTERM");
  const status = await a.child.status;
  assert.equal(status.code, 0);

  const b = await startServer({ STORE: store });
  try {
    const info = await (await fetch(`${b.base}/v1/sessions/${id}`)).json();
    assert.equal(info.tokens, first[0].id + 600, "all 600 tokens were generated and saved");
    assert.equal(info.generating, false);
    const replay = await readEvents(await fetch(`${b.base}/v1/sessions/${id}/stream`));
    assert.equal(replay.filter((e) => e.event === "token").length, 600);
    assert.equal(replay.at(-1)!.event, "done");
  } finally {
    b.child.kill("SIGTERM");
    await b.child.status;
  }
});
