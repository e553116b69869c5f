// A constrained (json_schema) generation is SIGKILLed mid-object; a second process on the same
// Deno KV file resumes it from the last checkpoint, whose state blob holds the constraint's
// automaton state. The text before the kill plus the text after equals an uninterrupted run,
// and it parses and validates.
import assert from "node:assert/strict";
import { Ajv } from "./helpers/dev_deps.ts";
import { startServer } from "./helpers/server.ts";
import { postJson, readEvents, textOf } from "./helpers/sse.ts";
import { decodeStateBlob } from "../engine/mod.ts";
import { loadModel } from "../models/mod.ts";

const ITEMS = 16;
const SCHEMA = {
  type: "object",
  properties: {
    refs: {
      type: "array",
      items: {
        type: "object",
        properties: {
          book: { enum: ["Genesis", "Exodus", "Psalms", "Isaiah", "John", "Romans"] },
          chapter: { type: "integer", minimum: 1, maximum: 150 },
          verse: { type: "integer", minimum: 1, maximum: 176 },
          kept: { type: "boolean" },
        },
        required: ["book", "chapter", "verse", "kept"],
        additionalProperties: false,
      },
      minItems: ITEMS,
      maxItems: ITEMS,
    },
  },
  required: ["refs"],
  additionalProperties: false,
};

Deno.test("a json_schema stream cut by SIGKILL mid-object resumes on another process to the same valid JSON", async () => {
  const store = `${await Deno.makeTempDir()}/sessions.kv`;
  const env = { STORE: store, CHECKPOINT_EVERY: "8", LEASE_MS: "1500" };
  const request = {
    max_tokens: 4000,
    temperature: 0.8,
    seed: 77,
    response_format: { type: "json_schema", json_schema: { name: "refs", schema: SCHEMA } },
  };
  const prompt = { prompt: "Verses to remember:" };

  const a = await startServer(env);
  const id = (await (await postJson(`${a.base}/v1/sessions`, prompt)).json()).id;
  const cut = await readEvents(await postJson(`${a.base}/v1/sessions/${id}/generate`, request), 40);
  a.child.kill("SIGKILL");
  await a.child.status;
  assert.equal(cut.length, 40);

  const b = await startServer(env);
  try {
    const info = await (await fetch(`${b.base}/v1/sessions/${id}`)).json();
    assert.equal(info.generating, true, "the first process died mid-generation (its lease is still held)");
    // The last checkpoint (read before anything resumes it) is mid-object, with the automaton's state.
    const loaded = await loadModel(new URL("../assets/rwkv7-kjv-4m", import.meta.url).pathname);
    const blob = new Uint8Array(await (await fetch(`${b.base}/v1/sessions/${id}/state`)).arrayBuffer());
    const checkpoint = decodeStateBlob(loaded, blob);
    assert.ok(checkpoint.constraint, "the checkpoint holds the constraint");
    assert.ok(checkpoint.constraint.alts[0].length > 1, "inside the outer object");
    const rest = await readEvents(
      await fetch(`${b.base}/v1/sessions/${id}/stream`, {
        headers: { "last-event-id": String(cut.at(-1)!.id) },
      }),
    );
    const done = rest.at(-1)!;
    assert.equal(done.event, "done");
    assert.equal(done.data.finish_reason, "stop");
    const resumed = textOf(cut) + textOf(rest);
    const value: { refs: unknown[] } = JSON.parse(resumed);
    const validate = new Ajv().compile(SCHEMA);
    assert.ok(validate(value), JSON.stringify(validate.errors));
    assert.equal(value.refs.length, ITEMS);

    const fresh = (await (await postJson(`${b.base}/v1/sessions`, prompt)).json()).id;
    const whole = await readEvents(await postJson(`${b.base}/v1/sessions/${fresh}/generate`, request));
    assert.equal(resumed, textOf(whole));
    assert.deepEqual(
      [...cut, ...rest].filter((e) => e.event === "token").map((e) => e.data.token_id),
      whole.filter((e) => e.event === "token").map((e) => e.data.token_id),
    );
  } finally {
    b.child.kill("SIGTERM");
    await b.child.status;
  }
});
