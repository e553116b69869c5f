// RWKV-7 against BlinkDL's RNN reference (goldens made by tools/make_rwkv7_fixtures.py):
// greedy tokens identical, logprobs within 1e-3, chunked prefill equal to recurrence.
import assert from "node:assert/strict";
import { BACKENDS } from "../kernels/mod.ts";
import { loadModel } from "../models/mod.ts";
import type { RecurrentModel } from "../models/mod.ts";

const FIXTURES = new URL("./fixtures/rwkv7/", import.meta.url).pathname;
const TOL = 1e-3;

interface Goldens {
  prompt: number[];
  prompt_logprobs: number[];
  logprobs_after_prompt: number[];
  state_after_prompt: { att_x: number[]; wkv: number[]; ffn_x: number[] };
  greedy: number[];
  greedy_logprobs: number[];
}

function logSoftmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(logits, (v) => v - lse);
}

function argmax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

function assertAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= tol,
      `${what}[${i}]: ${actual[i]} vs reference ${expected[i]}`,
    );
  }
}

for (const fixture of ["tiny", "tiny3"]) {
  for (const backend of BACKENDS.keys()) {
    const load = () => loadModel(FIXTURES + fixture, { backend, chunk: 7 });
    const goldens = (): Goldens => JSON.parse(Deno.readTextFileSync(`${FIXTURES}${fixture}/goldens.json`));

    Deno.test(`rwkv7 ${fixture} on ${backend}: token-by-token recurrence matches the reference`, async () => {
      const { model } = await load();
      const g = goldens();
      const state = model.newState();
      let logits: Float32Array | undefined;
      const promptLogprobs: number[] = [];
      for (const tok of g.prompt) {
        if (logits) promptLogprobs.push(logSoftmax(logits)[tok]);
        logits = model.forward([tok], state);
      }
      assertAllClose(promptLogprobs, g.prompt_logprobs, TOL, "prompt logprobs");
      assertAllClose(logSoftmax(logits!), g.logprobs_after_prompt, TOL, "logprobs after prompt");
      const parts = model.info.stateParts.map((p) => p.shape.reduce((a, b) => a * b, 1));
      const attX = state.data.subarray(0, parts[0]);
      const wkv = state.data.subarray(parts[0], parts[0] + parts[1]);
      assertAllClose(attX, g.state_after_prompt.att_x, TOL, "state att_x");
      assertAllClose(wkv, g.state_after_prompt.wkv, TOL, "state wkv");
      assertAllClose(
        state.data.subarray(parts[0] + parts[1]),
        g.state_after_prompt.ffn_x,
        TOL,
        "state ffn_x",
      );
      const { tokens, logprobs } = greedy(model, logits!, state, g.greedy.length);
      assert.deepEqual(tokens, g.greedy);
      assertAllClose(logprobs, g.greedy_logprobs, TOL, "greedy logprobs");
    });

    Deno.test(`rwkv7 ${fixture} on ${backend}: chunked prefill equals recurrence`, async () => {
      const { model } = await load();
      const g = goldens();
      const stepped = model.newState();
      let stepLogits!: Float32Array;
      for (const tok of g.prompt) stepLogits = model.forward([tok], stepped);
      const chunked = model.newState();
      const chunkLogits = model.forward(g.prompt, chunked); // 24 tokens in chunks of 7
      assertAllClose(chunkLogits, stepLogits, 1e-4, "logits");
      assertAllClose(chunked.data, stepped.data, 1e-4, "state");
      assertAllClose(logSoftmax(chunkLogits), g.logprobs_after_prompt, TOL, "logprobs after prompt");
    });
  }
}

function greedy(
  model: RecurrentModel,
  logits: Float32Array,
  state: ReturnType<RecurrentModel["newState"]>,
  n: number,
) {
  const tokens: number[] = [];
  const logprobs: number[] = [];
  for (let i = 0; i < n; i++) {
    const lp = logSoftmax(logits);
    const tok = argmax(lp);
    tokens.push(tok);
    logprobs.push(lp[tok]);
    logits = model.forward([tok], state);
  }
  return { tokens, logprobs };
}
