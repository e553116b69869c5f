/**
 * Turns logits into the next token: penalties, temperature, top-k, top-p,
 * min-p, then one draw from an explicitly seeded PRNG. Everything that makes
 * a draw depend on the past (the PRNG position, the penalty counters) is in
 * {@linkcode SamplerState}, which a session saves.
 *
 * @module
 */

import { type LogitBias, withLogitBias } from "./logit_bias.ts";
import { mulberry32Step } from "./prng.ts";
import type { DevicePick } from "../models/mod.ts";

/** How to pick tokens. Temperature 0 means greedy. */
export interface SamplingParams {
  /** Softmax temperature; 0 is greedy. */
  readonly temperature: number;
  /** Nucleus: keep the smallest set of tokens whose probability reaches this. */
  readonly topP: number;
  /** 0 disables. */
  readonly topK: number;
  /** 0 disables. */
  readonly minP: number;
  /** Subtracted from the logit of every token already generated. */
  readonly presencePenalty: number;
  /** Subtracted once per earlier occurrence of a token. */
  readonly frequencyPenalty: number;
  /** 1 disables; >1 discourages tokens already generated (HF/CTRL style). */
  readonly repetitionPenalty: number;
  /** Added to the named tokens' logits before anything else (OpenAI's `logit_bias`). */
  readonly logitBias?: LogitBias;
}

/** Sampling defaults (OpenAI's: temperature 1, top_p 1, no penalties). */
export const DEFAULT_SAMPLING: SamplingParams = {
  temperature: 1,
  topP: 1,
  topK: 0,
  minP: 0,
  presencePenalty: 0,
  frequencyPenalty: 0,
  repetitionPenalty: 1,
};

/** What sampling remembers between tokens: saved with the session. */
export interface SamplerState {
  /** The PRNG's 32-bit state (its position in the seeded sequence). */
  rng: number;
  /** How often each token id has been generated, for the penalties. */
  counts: Map<number, number>;
}

/** A sampler state seeded with `seed` (any integer; hashed to 32 bits). */
export function newSamplerState(seed: number): SamplerState {
  return { rng: (Math.imul(seed | 0, 0x9e3779b1) ^ Math.floor(seed / 4294967296)) >>> 0, counts: new Map() };
}

/** Picks the next token from `logits` (not modified) and advances `state`. */
export function sampleToken(logits: Float32Array, params: SamplingParams, state: SamplerState): number {
  const adjusted = applyPenalties(withLogitBias(logits, params.logitBias), params, state.counts);
  let token: number;
  if (params.temperature <= 0) {
    token = argmax(adjusted);
  } else {
    const step = mulberry32Step(state.rng);
    state.rng = step.state;
    token = drawFiltered(adjusted, params, step.value);
  }
  state.counts.set(token, (state.counts.get(token) ?? 0) + 1);
  return token;
}

/**
 * Whether `params` pick the largest logit and nothing else (temperature 0, no penalties, no logit
 * bias): a backend can then pick the token itself (see Scheduler.feedPicked).
 */
export function plainGreedy(params: SamplingParams): boolean {
  return params.temperature <= 0 && params.presencePenalty === 0 && params.frequencyPenalty === 0 &&
    params.repetitionPenalty === 1 && Object.keys(params.logitBias ?? {}).length === 0;
}

/** Whether `params` penalize tokens already generated (a pick then depends on the tokens before it). */
export function penalized(params: SamplingParams): boolean {
  return params.presencePenalty !== 0 || params.frequencyPenalty !== 0 || params.repetitionPenalty !== 1;
}

/** Advances `state` past a token picked elsewhere (a backend's greedy pick), as sampleToken would. */
export function recordToken(state: SamplerState, token: number): void {
  state.counts.set(token, (state.counts.get(token) ?? 0) + 1);
}

/**
 * The pick {@linkcode sampleToken} would make of the next logits, for a backend to make it (the draw's
 * uniform is the PRNG's next value, read, not taken: {@linkcode recordPick} takes it once the pick is
 * used).
 */
export function devicePick(params: SamplingParams, state: SamplerState): DevicePick {
  const bias = new Map(Object.entries(params.logitBias ?? {}).map(([id, b]) => [Number(id), b]));
  return {
    temperature: params.temperature,
    topK: params.topK,
    topP: params.topP,
    minP: params.minP,
    presencePenalty: params.presencePenalty,
    frequencyPenalty: params.frequencyPenalty,
    repetitionPenalty: params.repetitionPenalty,
    u: params.temperature > 0 ? mulberry32Step(state.rng).value : 0,
    bias,
    counts: new Map(state.counts),
  };
}

/** Advances `state` past a token a backend picked by {@linkcode devicePick}, as sampleToken would. */
export function recordPick(state: SamplerState, params: SamplingParams, token: number): void {
  if (params.temperature > 0) state.rng = mulberry32Step(state.rng).state;
  recordToken(state, token);
}

function applyPenalties(logits: Float32Array, p: SamplingParams, counts: Map<number, number>): Float32Array {
  if (
    counts.size === 0 || (p.presencePenalty === 0 && p.frequencyPenalty === 0 && p.repetitionPenalty === 1)
  ) {
    return logits;
  }
  const out = logits.slice();
  for (const [id, n] of counts) {
    let v = out[id];
    if (p.repetitionPenalty !== 1) v = v > 0 ? v / p.repetitionPenalty : v * p.repetitionPenalty;
    out[id] = v - p.presencePenalty - p.frequencyPenalty * n;
  }
  return out;
}

/** Index of the largest value (the first one on ties). */
export function argmax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

// Scratch for the candidates' weights, reused across calls (grown to the largest vocabulary seen).
let weights = new Float64Array(0);
function scratch(n: number): Float64Array {
  if (weights.length < n) weights = new Float64Array(n);
  return weights;
}

/** Histogram bins between the best logit and the candidate floor, for finding the top without a sort. */
const BINS = 2048;

function drawFiltered(logits: Float32Array, p: SamplingParams, u: number): number {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  // Candidates: tokens whose probability is not negligible (below 1e-12 of the best cannot be drawn in f64 sums).
  const floor = max - 27.6 * p.temperature;
  if (p.topK === 0 && p.topP >= 1 && p.minP === 0) return drawAll(logits, max, floor, p.temperature, u);
  const top = bestFirst(logits, p, max, floor);
  const ids = top.ids;
  let probs = ids.map((i) => weights[i]);
  let keep = ids.length;
  if (p.topK > 0) keep = Math.min(keep, p.topK);
  const total = top.total;
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
  if (p.minP > 0) {
    const threshold = p.minP * probs[0];
    while (keep > 1 && probs[keep - 1] < threshold) keep--;
  }
  probs = probs.slice(0, keep);
  const sum = probs.reduce((s, v) => s + v, 0);
  let target = u * sum;
  for (let i = 0; i < keep; i++) {
    target -= probs[i];
    if (target < 0) return ids[i];
  }
  return ids[keep - 1];
}

/**
 * The most likely candidates, best first (ties by id), as many as top-k and top-p can keep (top-p
 * needs the prefix whose mass reaches it; min-p only shortens the list), and the total weight of
 * every candidate. A histogram of the logits finds where that prefix ends, so only the prefix is
 * sorted, not the vocabulary; the prefix is every candidate above a bin edge, so its order is the
 * order a full sort gives.
 */
function bestFirst(
  logits: Float32Array,
  p: SamplingParams,
  max: number,
  floor: number,
): { ids: number[]; total: number } {
  const w = scratch(logits.length);
  const mass = new Float64Array(BINS), count = new Int32Array(BINS);
  const scale = BINS / (max - floor);
  const bin = (v: number) => Math.min(BINS - 1, Math.floor((max - v) * scale));
  let total = 0;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i];
    if (!(v >= floor)) {
      w[i] = -1;
      continue;
    }
    const e = Math.exp((v - max) / p.temperature);
    w[i] = e;
    total += e;
    mass[bin(v)] += e;
    count[bin(v)]++;
  }
  // The last bin the prefix needs: enough tokens for top-k, enough mass for top-p (with a margin
  // for summation order), whichever comes first; all bins when neither filter limits.
  const needK = p.topK > 0 ? p.topK : Infinity;
  const needMass = p.topP < 1 ? p.topP * total * (1 + 1e-9) : Infinity;
  let last = BINS - 1, n = 0, m = 0;
  for (let b = 0; b < BINS; b++) {
    n += count[b];
    m += mass[b];
    if (n >= needK || m >= needMass) {
      last = b;
      break;
    }
  }
  const ids: number[] = [];
  for (let i = 0; i < logits.length; i++) if (w[i] >= 0 && bin(logits[i]) <= last) ids.push(i);
  ids.sort((a, b) => logits[b] - logits[a] || a - b);
  return { ids, total };
}

// No filter: one pass in index order, no sort (the distribution drawn from is the same).
function drawAll(logits: Float32Array, max: number, floor: number, temperature: number, u: number): number {
  const w = scratch(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const e = logits[i] >= floor ? Math.exp((logits[i] - max) / temperature) : -1;
    w[i] = e;
    if (e >= 0) sum += e;
  }
  let target = u * sum;
  let last = 0;
  for (let i = 0; i < logits.length; i++) {
    if (w[i] < 0) continue;
    last = i;
    target -= w[i];
    if (target < 0) return i;
  }
  return last;
}

/** log-softmax of logits, in f64. */
export function logSoftmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(logits, (v) => v - lse);
}

/** The `n` most likely ids of a log-probability vector, best first. */
export function topIds(logprobs: Float64Array, n: number): number[] {
  const best: number[] = [];
  for (let i = 0; i < logprobs.length; i++) {
    if (best.length < n || logprobs[i] > logprobs[best[best.length - 1]]) {
      let at = best.length;
      while (at > 0 && logprobs[best[at - 1]] < logprobs[i]) at--;
      best.splice(at, 0, i);
      if (best.length > n) best.pop();
    }
  }
  return best;
}
