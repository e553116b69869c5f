// A server process is SIGKILLed in the middle of a streamed generation; a second process on the
// same Deno KV file is asked for the stream with the last Last-Event-ID the client saw. The text
// before the kill plus the text after equals an uninterrupted run with the same seed. With
// STATE_DTYPE=bf16 too: checkpoints store the state rounded, and the live state goes on rounded, so
// the resume is still exact.
import assert from "node:assert/strict";
import { startServer } from "./helpers/server.ts";
import { postJson, readEvents, textOf } from "./helpers/sse.ts";

const text = textOf;
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
    const lastSeen = cut.at(-1)!.id;
    assert.equal(cut.length, 40);

    const b = await startServer(env);
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
      const ids = [...cut, ...rest].filter((e) => e.event === "token").map((e) => e.id);
      assert.deepEqual(
        ids,
        Array.from({ length: 1500 }, (_, i) => ids[0] + i),
        "positions: none lost, none repeated",
      );

      const fresh = (await (await post(`${b.base}/v1/sessions`, prompt)).json()).id;
      const whole = await readEvents(await post(`${b.base}/v1/sessions/${fresh}/generate`, request));
      assert.equal(text(cut) + text(rest), text(whole));
      assert.deepEqual(
        [...cut, ...rest].filter((e) => e.event === "token").map((e) => e.data.token_id),
        whole.filter((e) => e.event === "token").map((e) => e.data.token_id),
      );
      // The stored state is in the mode's type (its header says so).
      const blob = new Uint8Array(await (await fetch(`${b.base}/v1/sessions/${id}/state`)).arrayBuffer());
      const headerLength = new DataView(blob.buffer).getUint32(12, true);
      const header = JSON.parse(new TextDecoder().decode(blob.subarray(16, 16 + headerLength)));
      assert.equal(header.dtype, stateDType);
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
