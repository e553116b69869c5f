// The state blob's constraint field (version 2): a constrained generation's automaton state
// round-trips, a version-1 blob (no constraint) still loads, and a malformed constraint is refused
// naming the field.
import assert from "node:assert/strict";
import {
  compileResponseFormat,
  decodeStateBlob,
  DEFAULT_SAMPLING,
  encodeStateBlob,
  generate,
  newSession,
  StateFormatError,
} from "../engine/mod.ts";
import { crc32 } from "../engine/crc32.ts";
import { loadModel } from "../models/mod.ts";

const loaded = await loadModel(new URL("./fixtures/rwkv7/tiny", import.meta.url).pathname);

/** `blob` with its version and header replaced, and a correct checksum. */
function rebuild(
  blob: Uint8Array,
  version: number,
  header: (h: Record<string, unknown>) => unknown,
): Uint8Array {
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const headerLength = view.getUint32(12, true);
  const json = new TextEncoder().encode(
    JSON.stringify(header(JSON.parse(new TextDecoder().decode(blob.subarray(16, 16 + headerLength))))),
  );
  const payload = blob.subarray(16 + headerLength, blob.length - 4);
  const out = new Uint8Array(16 + json.length + payload.length + 4);
  const outView = new DataView(out.buffer);
  out.set(blob.subarray(0, 8));
  outView.setUint32(8, version, true);
  outView.setUint32(12, json.length, true);
  out.set(json, 16);
  out.set(payload, 16 + json.length);
  outView.setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
  return out;
}

/** A session stopped mid-way through a json_object generation, and the text so far. */
async function midObject() {
  const session = newSession(loaded, 5);
  let text = "";
  const events = generate(loaded, session, {
    prompt: [1, 2, 3],
    maxTokens: 12,
    sampling: DEFAULT_SAMPLING,
    grammar: compileResponseFormat({ type: "json_object" }),
  });
  for await (const ev of events) {
    text += ev.text;
    if (ev.type === "token" && ev.position === 3 + 8) break; // leave it running: the constraint stays
  }
  return { session, text };
}

Deno.test("a blob written mid-generation carries the constraint, and it round-trips", async () => {
  const { session, text } = await midObject();
  assert.ok(session.constraint, `the session holds the constraint after ${JSON.stringify(text)}`);
  const back = decodeStateBlob(loaded, encodeStateBlob(loaded, session));
  assert.deepEqual(back.constraint, session.constraint);
  assert.equal(back.tokens, session.tokens);
});

Deno.test("a version-1 blob (no constraint) still loads", () => {
  const session = newSession(loaded, 5);
  const blob = encodeStateBlob(loaded, session);
  assert.equal(new DataView(blob.buffer).getUint32(8, true), 2);
  const v1 = rebuild(blob, 1, (h) => h);
  const back = decodeStateBlob(loaded, v1);
  assert.equal(back.constraint, undefined);
  assert.equal(back.sampler.rng, session.sampler.rng);
});

Deno.test("a malformed constraint is refused, naming the field", async () => {
  const { session } = await midObject();
  const blob = encodeStateBlob(loaded, session);
  const cases: [unknown, RegExp][] = [
    [{ alts: "x" }, /field constraint is not \{alts/],
    [{ alts: [] }, /field constraint is not \{alts/],
    [{ alts: [[[0, 1, "a", 0, 0, ""]]] }, /field constraint\.alts\[0\]\[0\] is not a frame/],
    [{ alts: [[[0, 1, 0, 0, 0, "x".repeat(100)]]] }, /field constraint\.alts\[0\]\[0\] is not a frame/],
    [{ alts: [Array(1000).fill([0, 0, 0, 0, 0, ""])] }, /field constraint\.alts\[0\] is not a list of 1 to/],
  ];
  for (const [constraint, message] of cases) {
    assert.throws(() => decodeStateBlob(loaded, rebuild(blob, 2, (h) => ({ ...h, constraint }))), (err) => {
      assert.ok(err instanceof StateFormatError);
      assert.match(err.message, message);
      return true;
    });
  }
});

Deno.test("a generation resumed from a checkpoint taken as the value completed ends there, as the whole run did", async () => {
  const grammar = compileResponseFormat({ type: "json_object" });
  const whole = newSession(loaded, 8);
  const positions: number[] = [];
  let blob: Uint8Array | undefined;
  for await (
    const ev of generate(loaded, whole, {
      prompt: [1, 2, 3],
      maxTokens: 200,
      sampling: DEFAULT_SAMPLING,
      grammar,
    })
  ) {
    if (ev.type === "token") {
      positions.push(ev.position);
      blob = encodeStateBlob(loaded, whole); // what a checkpoint after this token would hold
    } else assert.equal(ev.finishReason, "stop");
  }
  const resumed = decodeStateBlob(loaded, blob!);
  assert.ok(resumed.constraint, "the last token's checkpoint holds the complete value's state");
  const events = [];
  for await (
    const ev of generate(loaded, resumed, { prompt: [], maxTokens: 5, sampling: DEFAULT_SAMPLING, grammar })
  ) {
    events.push(ev);
  }
  assert.deepEqual(events.map((e) => e.type), ["done"]);
  assert.equal(events[0].type === "done" && events[0].finishReason, "stop");
});
