import assert from "node:assert/strict";
import { DEFAULT_SAMPLING, newSamplerState, sampleToken, type SamplingParams, topIds } from "./sampler.ts";
import { logSoftmax } from "./sampler.ts";

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
