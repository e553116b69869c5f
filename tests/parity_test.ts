// Every family against its reference implementation's goldens (tools/make_rwkv7_fixtures.py:
// BlinkDL's RWKV-7 RNN; tools/make_hf_fixtures.py: HF transformers): greedy tokens identical,
// logprobs and state within 1e-3, chunked prefill equal to recurrence, on every backend.
import assert from "node:assert/strict";
import { logSoftmax } from "../engine/mod.ts";
import { BACKENDS } from "../kernels/mod.ts";
import { loadModel, type RecurrentModel, type RecurrentState } from "../models/mod.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;
// The backends with a synchronous forward(); WebGPU runs step() only (tests/webgpu_test.ts).
const HOST_BACKENDS = [...BACKENDS.keys()].filter((name) => name !== "webgpu");
const TOL = 1e-3;
const CASES: [family: string, fixture: string][] = [
  ["rwkv7", "tiny"],
  ["rwkv7", "tiny3"],
  ["rwkv4", "tiny"],
  ["mamba", "tiny"],
  ["mamba2", "tiny"],
  ["retnet", "tiny"],
];

interface Goldens {
  prompt: number[];
  prompt_logprobs: number[];
  logprobs_after_prompt: number[];
  parallel_logprobs_after_prompt?: number[];
  chunkwise_logprobs_after_prompt?: number[];
  state_after_prompt: Record<string, number[]>;
  greedy: number[];
  greedy_logprobs: number[];
}

function argmax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

function assertAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const scale = Math.max(1, Math.abs(expected[i]));
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= tol * scale,
      `${what}[${i}]: ${actual[i]} vs reference ${expected[i]}`,
    );
  }
}

/** The state's parts by name, as views into its flat array. */
function parts(model: RecurrentModel, state: RecurrentState): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  let at = 0;
  for (const p of model.info.stateParts) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    out[p.name] = state.data.subarray(at, at + n);
    at += n;
  }
  return out;
}

for (const [family, fixture] of CASES) {
  const dir = `${FIXTURES}${family}/${fixture}`;
  const goldens = (): Goldens => JSON.parse(Deno.readTextFileSync(`${dir}/goldens.json`));
  for (const backend of HOST_BACKENDS) {
    const load = () => loadModel(dir, { backend, chunk: 7 });

    Deno.test(`${family} ${fixture} on ${backend}: token-by-token recurrence matches the reference`, async () => {
      const { model, family: detected } = await load();
      assert.equal(detected, family);
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
      const mine = parts(model, state);
      assert.deepEqual(Object.keys(mine).sort(), Object.keys(g.state_after_prompt).sort());
      for (const [name, values] of Object.entries(g.state_after_prompt)) {
        assertAllClose(mine[name], values, TOL, `state ${name}`);
      }
      const tokens: number[] = [];
      const logprobs: number[] = [];
      for (let i = 0; i < g.greedy.length; i++) {
        const lp = logSoftmax(logits!);
        const tok = argmax(lp);
        tokens.push(tok);
        logprobs.push(lp[tok]);
        logits = model.forward([tok], state);
      }
      assert.deepEqual(tokens, g.greedy);
      assertAllClose(logprobs, g.greedy_logprobs, TOL, "greedy logprobs");
      model.backend.close();
    });

    Deno.test(`${family} ${fixture} on ${backend}: chunked prefill equals recurrence`, async () => {
      const { model } = await load();
      const g = goldens();
      const stepped = model.newState();
      let stepLogits!: Float32Array;
      for (const tok of g.prompt) stepLogits = model.forward([tok], stepped);
      const chunked = model.newState();
      const chunkLogits = model.forward(g.prompt, chunked); // 24 tokens in chunks of 7
      assertAllClose(chunkLogits, stepLogits, 1e-4, "logits");
      assertAllClose(chunked.data, stepped.data, 1e-4, "state");
      // The chunked prefill also equals the reference's own parallel and chunkwise forms, where it has them.
      assertAllClose(logSoftmax(chunkLogits), g.logprobs_after_prompt, TOL, "logprobs after prompt");
      if (g.parallel_logprobs_after_prompt) {
        assertAllClose(
          logSoftmax(chunkLogits),
          g.parallel_logprobs_after_prompt,
          TOL,
          "vs the parallel form",
        );
      }
      if (g.chunkwise_logprobs_after_prompt) {
        assertAllClose(
          logSoftmax(chunkLogits),
          g.chunkwise_logprobs_after_prompt,
          TOL,
          "vs the chunkwise form",
        );
      }
      model.backend.close();
    });
  }
}
