// Models loaded with quantized weights (--weights int8|q4): every family's fixture and the default
// model load in both formats and predict close to their checkpoint's precision; the matrices Mamba
// keeps are kept; a format that is not one is refused with a message; the server reports it.
import assert from "node:assert/strict";
import { loadModel } from "../models/mod.ts";
import { weightsFlag } from "../cli/defaults.ts";
import { logSoftmax } from "../engine/sampler.ts";
import { startServer } from "./helpers/server.ts";

const FIX = new URL("./fixtures/", import.meta.url).pathname;
const MODELS = ["rwkv7/tiny3", "rwkv4/tiny", "mamba/tiny", "mamba2/tiny", "retnet/tiny"].map((f) => FIX + f)
  .concat(new URL("../assets/rwkv7-kjv-4m", import.meta.url).pathname);

/** The largest difference in log-probability over the vocabulary after a short prompt. */
async function drift(dir: string, weights: "q8" | "q4") {
  const prompt = [1, 5, 9, 2, 7, 3, 11, 4];
  const logprobs = [];
  let quantized;
  for (const w of [undefined, weights]) {
    const loaded = await loadModel(dir, { weights: w });
    logprobs.push(logSoftmax(loaded.model.forward(prompt, loaded.model.newState())));
    if (w) quantized = loaded.quantized;
    loaded.model.backend.close();
  }
  let max = 0;
  for (let i = 0; i < logprobs[0].length; i++) {
    if (logprobs[0][i] > -10) max = Math.max(max, Math.abs(logprobs[0][i] - logprobs[1][i]));
  }
  return { max, quantized: quantized! };
}

for (const dir of MODELS) {
  const name = dir.split("/").slice(-2).join("/");
  Deno.test(`${name}: int8 and q4 weights load and stay close to the checkpoint's predictions`, async () => {
    const q8 = await drift(dir, "q8");
    const q4 = await drift(dir, "q4");
    assert.ok(q8.quantized.quantized > 0, "some matrices were quantized");
    // Bounds on the largest change of a likely token's log-probability (measured: see the README).
    assert.ok(q8.max < 0.5, `int8 moved a log-probability by ${q8.max}`);
    assert.ok(q4.max < 3, `q4 moved a log-probability by ${q4.max}`);
    console.log(`largest log-probability change: int8 ${q8.max.toFixed(3)}, q4 ${q4.max.toFixed(3)}`);
    assert.ok(q4.max > q8.max, "4 bits cost more than 8");
    if (name.startsWith("mamba/")) {
      assert.ok(q8.quantized.quantized < q8.quantized.weights, "Mamba keeps x_proj and dt_proj");
    }
  });
}

Deno.test("--weights names int8 or q4, and says so otherwise", () => {
  assert.equal(weightsFlag("int8"), "q8");
  assert.equal(weightsFlag("q4"), "q4");
  assert.equal(weightsFlag(undefined), undefined);
  assert.throws(() => weightsFlag("fp8"), /--weights must be int8 or q4, got "fp8"/);
});

Deno.test("a server started with WEIGHTS=q4 says so and reports it in /v1/models", async () => {
  const server = await startServer({ STORE: "memory", WEIGHTS: "q4" });
  try {
    assert.match(server.log, /q4 weights\)/);
    const models = await (await fetch(`${server.base}/v1/models`)).json();
    assert.equal(models.data[0].weights, "q4");
  } finally {
    server.child.kill("SIGTERM");
    await server.child.status;
  }
});

Deno.test("the backend is sized for quantized weights with an untied embedding (RWKV-7, vocab 16384)", async () => {
  const { randomRwkv7 } = await import("../bench/random_rwkv7.ts");
  const { buildModel } = await import("../bench/side_by_side.ts");
  const tensors = randomRwkv7({ nLayer: 1, nEmbd: 512, headSize: 64, vocab: 16384 }, "bf16");
  for (const weights of [undefined, "q8", "q4"] as const) {
    const model = await buildModel(tensors, 1, undefined, weights);
    model.writeSlot(0, model.newState());
    const [logits] = await model.step([{ slot: 0, tokens: [1, 2, 3] }]);
    assert.equal(logits!.length, 16384);
    model.backend.close();
  }
});
