// Greedy picks on the GPU: a plain greedy generation with nothing that needs the logits (no logprobs
// or constraint; penalties and logit_bias: tests/webgpu_sample_test.ts) reads back one token id per
// step instead of the logits, and gives the same tokens as the logits path; the logits it left on the
// GPU come back, bit for bit, when the session is synced (checkpoints, the end of a generation); the
// sampler counts what was picked.
import assert from "node:assert/strict";
import {
  DEFAULT_SAMPLING,
  generate,
  type GenerateRequest,
  newSession,
  schedulerOf,
  syncState,
} from "../engine/mod.ts";
import { loadModel } from "../models/mod.ts";
import { webgpuMissing } from "./helpers/webgpu.ts";

const missing = await webgpuMissing();
const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;

/** A generation's token ids, and the bytes the backend read back during its decode steps. */
async function run(dir: string, request: Partial<GenerateRequest>) {
  const loaded = await loadModel(dir, { backend: "webgpu", slots: 2 });
  // One step at a time: the bytes counted are those of each step's own readback (steps in flight:
  // tests/webgpu_inflight_test.ts).
  schedulerOf(loaded.model).stepsAhead = 0;
  const backend = loaded.model.backend;
  const read = backend.read.bind(backend);
  let bytes = 0, counting = false;
  backend.read = async (t, row, rows) => {
    const out = await read(t, row, rows);
    if (counting) bytes += out.byteLength;
    return out;
  };
  try {
    const session = newSession(loaded, 1);
    const tokens: number[] = [];
    let midway: Float32Array | undefined;
    const req = { prompt: [5, 9, 2, 7, 1], maxTokens: 12, ignoreEos: true, ...request };
    for await (const ev of generate(loaded, session, { sampling: DEFAULT_SAMPLING, ...req })) {
      counting = true; // after the prompt's logits came back
      if (ev.type === "token") tokens.push(ev.tokenId);
      if (tokens.length === 6 && !midway) {
        await syncState(loaded, session); // as a checkpoint does, mid-generation
        midway = session.logits!.slice();
      }
    }
    return {
      tokens,
      bytes,
      midway: midway!,
      logits: session.logits!,
      counts: session.sampler.counts,
      vocab: loaded.model.info.vocabSize,
    };
  } finally {
    backend.close();
  }
}

if (missing) {
  Deno.test({ name: `webgpu greedy picks: skipped (${missing})`, ignore: true, fn() {} });
} else {
  for (const family of ["rwkv7", "mamba"]) {
    Deno.test(`webgpu ${family}: greedy picks on the GPU give the logits path's tokens, reading ids only`, async () => {
      const greedy = { ...DEFAULT_SAMPLING, temperature: 0 };
      const dir = `${FIXTURES}${family}/tiny`;
      const picked = await run(dir, { sampling: greedy });
      const viaLogits = await run(dir, { sampling: greedy, logprobs: 0 });
      assert.equal(picked.tokens.length, 12);
      assert.deepEqual(picked.tokens, viaLogits.tokens);
      // Counted from the first token on: 11 decode steps read 11 logits rows on the logits path, 11
      // ids when picking, which reads the logits at the sync midway and at the end; both read the
      // state then.
      const row = picked.vocab * 4;
      assert.equal(picked.bytes, viaLogits.bytes - 11 * row + 11 * 4 + 2 * row);
      assert.deepEqual(new Uint32Array(picked.midway.buffer), new Uint32Array(viaLogits.midway.buffer));
      assert.deepEqual(new Uint32Array(picked.logits.buffer), new Uint32Array(viaLogits.logits.buffer));
      assert.deepEqual(picked.counts, viaLogits.counts);
    });
  }
}
