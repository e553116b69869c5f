// Sampled picks on the GPU (kernels/webgpu/pick.ts through generate): a seeded generation with
// temperature, top-k, top-p, min-p, penalties or logit bias and nothing that needs the logits reads
// back one token id per decode step, and gives the tokens of the same generation on the logits path
// (logprobs asked for: sampled on the host) and on the WASM backend; its sampler state after it (the
// PRNG position, the counts) is the host path's, so a saved session resumes identically; the logits
// it left on the GPU come back bit for bit at the end. With 3 steps in flight (penalties included),
// stopped midway, and four generations batched with different rules, as the logits path.
import assert from "node:assert/strict";
import {
  DEFAULT_SAMPLING,
  generate,
  type GenerateRequest,
  newSession,
  type SamplingParams,
  schedulerOf,
} from "../engine/mod.ts";
import { loadModel } from "../models/mod.ts";
import { webgpuMissing } from "./helpers/webgpu.ts";

const missing = await webgpuMissing();
const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;
const MAX = 16;

/** A generation's token ids, its sampler state after it, and the bytes read back during its decode. */
async function run(
  dir: string,
  request: Partial<GenerateRequest>,
  { backend = "webgpu", ahead = 0, seed = 42 }: {
    backend?: "webgpu" | "wasm";
    ahead?: number;
    seed?: number;
  } = {},
) {
  const loaded = await loadModel(dir, { backend, slots: 2 });
  const scheduler = schedulerOf(loaded.model);
  scheduler.stepsAhead = ahead;
  const b = loaded.model.backend;
  const read = b.read.bind(b);
  let bytes = 0, counting = false;
  b.read = async (t, row, rows) => {
    const out = await read(t, row, rows);
    if (counting) bytes += out.byteLength;
    return out;
  };
  try {
    const session = newSession(loaded, seed);
    const tokens: number[] = [];
    const req = { prompt: [5, 9, 2, 7, 1], maxTokens: MAX, ignoreEos: true, ...request };
    for await (const ev of generate(loaded, session, { sampling: DEFAULT_SAMPLING, ...req })) {
      counting = true; // after the prompt's logits came back
      if (ev.type === "token") tokens.push(ev.tokenId);
    }
    return {
      tokens,
      bytes,
      sampler: session.sampler,
      logits: session.logits!,
      state: session.state.data,
      vocab: loaded.model.info.vocabSize,
      aheadSteps: scheduler.aheadSteps,
      steps: scheduler.steps,
    };
  } finally {
    b.close();
  }
}

const CASES: Record<string, Partial<SamplingParams>> = {
  "temperature only": { temperature: 1 },
  "top_k, top_p, min_p": { temperature: 0.9, topK: 40, topP: 0.9, minP: 0.01 },
  "penalties": { temperature: 0.8, presencePenalty: 0.6, frequencyPenalty: 0.4, repetitionPenalty: 1.2 },
  "greedy + logit_bias + penalty": {
    temperature: 0,
    logitBias: { "7": 3, "2": -100 },
    frequencyPenalty: 0.5,
  },
  "greedy + logit_bias": { temperature: 0, logitBias: { "7": 3, "2": -100 } },
  // Drawn back to tokens already picked, then pushed off as they repeat: the picks repeat, so each
  // step's counts (kept on the GPU with steps in flight) decide them.
  "greedy + penalties that repeat": {
    temperature: 0,
    presencePenalty: -1.5,
    frequencyPenalty: 0.5,
    repetitionPenalty: 0.9,
  },
};

if (missing) {
  Deno.test({ name: `webgpu sampled picks: skipped (${missing})`, ignore: true, fn() {} });
} else {
  for (const family of ["rwkv7", "mamba"]) {
    for (const [name, c] of Object.entries(CASES)) {
      Deno.test(`webgpu ${family}, ${name}: picks on the GPU give the logits path's and WASM's tokens and sampler state`, async () => {
        const sampling = { ...DEFAULT_SAMPLING, ...c };
        const dir = `${FIXTURES}${family}/tiny`;
        const picked = await run(dir, { sampling });
        const viaLogits = await run(dir, { sampling, logprobs: 0 });
        const wasm = await run(dir, { sampling }, { backend: "wasm" });
        assert.equal(picked.tokens.length, MAX);
        assert.deepEqual(picked.tokens, viaLogits.tokens);
        assert.deepEqual(picked.tokens, wasm.tokens);
        assert.deepEqual(picked.sampler, viaLogits.sampler);
        assert.deepEqual(picked.sampler, wasm.sampler);
        // MAX - 1 decode steps: the logits path reads a logits row each, the GPU picks an id each and
        // the logits once at the end; both read the state then.
        const row = picked.vocab * 4;
        assert.equal(picked.bytes, viaLogits.bytes - (MAX - 1) * row + (MAX - 1) * 4 + row);
        assert.deepEqual(new Uint32Array(picked.logits.buffer), new Uint32Array(viaLogits.logits.buffer));
      });
    }
  }
}

// Steps in flight (engine/steps_ahead.ts): a sampled generation queues its next steps, each drawing
// the PRNG's next uniform (and, with penalties, counting on the GPU each pick before it); stopped
// mid-flight by a stop token, its tokens, sampler state, saved state and logits are those of the logits
// path and of the GPU with each step waiting, bit for bit (the steps never fed undone).
if (!missing) {
  for (const family of ["rwkv7", "mamba"]) {
    for (const [name, c] of Object.entries(CASES)) {
      Deno.test(`webgpu ${family}, ${name}: 3 steps in flight, stopped midway, as the logits path`, async () => {
        const sampling = { ...DEFAULT_SAMPLING, ...c };
        const dir = `${FIXTURES}${family}/tiny`;
        const full = await run(dir, { sampling }, { ahead: 3 });
        const stop = { stopTokenIds: [full.tokens[9]] };
        const picked = await run(dir, { sampling, ...stop }, { ahead: 3 });
        const waiting = await run(dir, { sampling, ...stop }, { ahead: 0 });
        const viaLogits = await run(dir, { sampling, logprobs: 0, ...stop });
        assert.deepEqual(full.tokens, (await run(dir, { sampling, logprobs: 0 })).tokens);
        assert.ok(picked.tokens.length < MAX);
        for (const other of [viaLogits, waiting]) {
          assert.deepEqual(picked.tokens, other.tokens);
          assert.deepEqual(picked.sampler, other.sampler);
          assert.deepEqual(new Uint32Array(picked.logits.buffer), new Uint32Array(other.logits.buffer));
          assert.deepEqual(new Uint32Array(picked.state.buffer), new Uint32Array(other.state.buffer));
        }
        assert.equal(waiting.aheadSteps, 0);
        // The prompt's step and the first token's: every later token's step was queued ahead and taken.
        assert.ok(picked.aheadSteps >= picked.tokens.length - 2, `${picked.aheadSteps} steps ahead`);
        assert.equal(picked.steps, 2);
      });
    }
  }
}

// Batched: four generations share steps (each row its own rule: the four CASES, one of them asking
// for logprobs, so its logits are read back beside the others' picks), 3 steps in flight where allowed;
// each gives the tokens and sampler state of the logits path run alone.
if (!missing) {
  Deno.test("webgpu rwkv7: four sampled generations batched, each as the logits path alone", async () => {
    const dir = `${FIXTURES}rwkv7/tiny`;
    const requests = Object.values(CASES).slice(0, 4).map((c, i) => ({
      sampling: { ...DEFAULT_SAMPLING, ...c },
      prompt: [5, 9 + i, 2, 7, 1],
      logprobs: i === 1 ? 0 : undefined,
    }));
    const alone: Awaited<ReturnType<typeof run>>[] = [];
    for (const [i, r] of requests.entries()) {
      alone.push(await run(dir, { ...r, logprobs: 0 }, { seed: 42 + i }));
    }
    const loaded = await loadModel(dir, { backend: "webgpu", slots: 4 });
    const scheduler = schedulerOf(loaded.model);
    try {
      const results = await Promise.all(requests.map(async (r, i) => {
        const session = newSession(loaded, 42 + i);
        const tokens: number[] = [];
        const req = { maxTokens: MAX, ignoreEos: true, ...r };
        for await (const ev of generate(loaded, session, req)) {
          if (ev.type === "token") tokens.push(ev.tokenId);
        }
        return { tokens, sampler: session.sampler };
      }));
      results.forEach((got, i) => {
        assert.deepEqual(got.tokens, alone[i].tokens, `generation ${i}`);
        assert.deepEqual(got.sampler, alone[i].sampler, `generation ${i}`);
      });
      assert.ok(scheduler.steps < 4 * MAX, `${scheduler.steps} steps: the generations shared them`);
      assert.ok(scheduler.aheadSteps > 0);
    } finally {
      loaded.model.backend.close();
    }
  });
}
