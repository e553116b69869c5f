import assert from "node:assert/strict";
import {
  DEFAULT_SAMPLING,
  devicePick,
  newSamplerState,
  recordPick,
  sampleToken,
  type SamplingParams,
  topIds,
} from "./sampler.ts";
import { logSoftmax } from "./sampler.ts";
import { mulberry32, mulberry32Step } from "./prng.ts";

const logits = Float32Array.from([1.0, 3.0, 2.5, -1.0, 0.5, 2.9]);
const params = (p: Partial<SamplingParams>): SamplingParams => ({ ...DEFAULT_SAMPLING, ...p });

Deno.test("temperature 0 is greedy and draws nothing from the PRNG", () => {
  const s = newSamplerState(7);
  const rng = s.rng;
  assert.equal(sampleToken(logits, params({ temperature: 0 }), s), 1);
  assert.equal(s.rng, rng);
});

Deno.test("a seed reproduces the same tokens, and a saved position continues them", () => {
  const p = params({ temperature: 1.3 });
  const a = newSamplerState(42);
  const seqA = Array.from({ length: 50 }, () => sampleToken(logits, p, a));
  const b = newSamplerState(42);
  const seqB = Array.from({ length: 20 }, () => sampleToken(logits, p, b));
  const saved = { rng: b.rng, counts: new Map(b.counts) };
  const rest = Array.from({ length: 30 }, () => sampleToken(logits, p, saved));
  assert.deepEqual([...seqB, ...rest], seqA);
  assert.ok(new Set(seqA).size > 2, "temperature 1.3 should visit several tokens");
  const c = newSamplerState(43);
  assert.notDeepEqual(Array.from({ length: 50 }, () => sampleToken(logits, p, c)), seqA);
});

Deno.test("draws follow the softmax distribution", () => {
  const s = newSamplerState(1);
  const counts = new Array(logits.length).fill(0);
  const n = 20000;
  for (let i = 0; i < n; i++) counts[sampleToken(logits, DEFAULT_SAMPLING, s)]++;
  const probs = logSoftmax(logits).map(Math.exp);
  probs.forEach((p, i) =>
    assert.ok(Math.abs(counts[i] / n - p) < 0.015, `token ${i}: ${counts[i] / n} vs ${p}`)
  );
});

Deno.test("top_k, top_p and min_p cut the tail", () => {
  const s = newSamplerState(3);
  const seen = (p: SamplingParams) => new Set(Array.from({ length: 400 }, () => sampleToken(logits, p, s)));
  assert.deepEqual(seen(params({ topK: 1 })), new Set([1]));
  assert.deepEqual(seen(params({ topK: 2 })), new Set([1, 5]));
  assert.deepEqual(seen(params({ topP: 0.05 })), new Set([1]));
  // min_p 0.5: keep tokens with p >= 0.5 * p(best): logits 3.0, 2.9, 2.5 (e^-0.5 = 0.61).
  assert.deepEqual(seen(params({ minP: 0.5 })), new Set([1, 2, 5]));
});

Deno.test("presence and repetition penalties steer away from generated tokens", () => {
  const s = newSamplerState(5);
  const p = params({ temperature: 0, presencePenalty: 2 });
  const seq = Array.from({ length: 3 }, () => sampleToken(logits, p, s));
  assert.deepEqual(seq, [1, 5, 2]);
  const r = newSamplerState(5);
  const rep = params({ temperature: 0, repetitionPenalty: 1.5 });
  assert.deepEqual([sampleToken(logits, rep, r), sampleToken(logits, rep, r)], [1, 5]);
});

Deno.test("topIds returns the best ids in order", () => {
  assert.deepEqual(topIds(logSoftmax(logits), 3), [1, 5, 2]);
});

// The filtered draw finds the kept tokens through a histogram and sorts only them; this oracle
// sorts every candidate, as the sampler did before. Both must pick the same token.
function oracleFiltered(logits: Float32Array, p: SamplingParams, u: number): number {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  const floor = max - 27.6 * p.temperature;
  const ids: number[] = [];
  for (let i = 0; i < logits.length; i++) if (logits[i] >= floor) ids.push(i);
  ids.sort((a, b) => logits[b] - logits[a] || a - b);
  let probs = ids.map((i) => Math.exp((logits[i] - max) / p.temperature));
  let keep = p.topK > 0 ? Math.min(ids.length, p.topK) : ids.length;
  const total = probs.reduce((s, v) => s + v, 0);
  if (p.topP < 1) {
    let cum = 0;
    for (let i = 0; i < keep; i++) {
      cum += probs[i] / total;
      if (cum >= p.topP) {
        keep = i + 1;
        break;
      }
    }
  }
  if (p.minP > 0) { while (keep > 1 && probs[keep - 1] < p.minP * probs[0]) keep--; }
  probs = probs.slice(0, keep);
  let target = u * probs.reduce((s, v) => s + v, 0);
  for (let i = 0; i < keep; i++) if ((target -= probs[i]) < 0) return ids[i];
  return ids[keep - 1];
}

Deno.test("top-k / top-p / min-p draws equal a full sort's, on peaked, flat and tied logits", () => {
  const rand = mulberry32(7);
  let checked = 0;
  for (let trial = 0; trial < 300; trial++) {
    const vocab = [5, 100, 4096, 65536][trial % 4];
    const spread = [0.5, 3, 12][trial % 3];
    const logits = new Float32Array(vocab);
    // Rounded values give ties; a few very large ones make the distribution peaked.
    for (let i = 0; i < vocab; i++) logits[i] = Math.round((rand() * 2 - 1) * spread * 4) / 4;
    if (trial % 5 === 0) { for (let j = 0; j < 3; j++) logits[Math.floor(rand() * vocab)] = spread * 3; }
    const params: SamplingParams = {
      ...DEFAULT_SAMPLING,
      temperature: [0.3, 1, 1.7][trial % 3],
      topK: [0, 1, 40, 1000][Math.floor(trial / 3) % 4],
      topP: [1, 0.5, 0.9, 0.999][Math.floor(trial / 12) % 4],
      minP: [0, 0.05][Math.floor(trial / 48) % 2],
    };
    if (params.topK === 0 && params.topP >= 1 && params.minP === 0) continue;
    const state = newSamplerState(trial);
    const u = mulberry32Step(state.rng).value;
    assert.equal(
      sampleToken(logits, params, state),
      oracleFiltered(logits, params, u),
      JSON.stringify(params),
    );
    checked++;
  }
  assert.ok(checked > 200);
});

Deno.test("devicePick reads the next uniform without taking it; recordPick advances as sampleToken does", () => {
  for (const temperature of [0, 0.8]) {
    const p = params({ temperature, frequencyPenalty: 0.5, logitBias: { "2": 1.5 } });
    const host = newSamplerState(9), device = newSamplerState(9);
    for (let i = 0; i < 5; i++) {
      const rng = device.rng;
      const pick = devicePick(p, device);
      assert.equal(device.rng, rng);
      assert.equal(pick.u, temperature > 0 ? mulberry32Step(rng).value : 0);
      assert.deepEqual(pick.counts, host.counts);
      assert.deepEqual(pick.bias, new Map([[2, 1.5]]));
      recordPick(device, p, sampleToken(logits, p, host));
      assert.deepEqual(device, host);
    }
  }
});
