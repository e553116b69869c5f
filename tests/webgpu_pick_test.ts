// The pick op (kernels/webgpu/pick.ts, kernels/cpu/pick.ts) against the host sampler
// (engine/sampler.ts sampleToken) on seeded random logits, for each sampling combination: greedy
// with penalties, temperature only, top-k, top-p, min-p, all combined, and logit bias. Each row's
// rule comes from devicePick (the draw's uniform read from the sampler's PRNG, not taken), as a
// decode step makes it. The penalized ones again with the counts kept on the backend (PickOp.counts:
// loaded at the first step, then counting each pick, as steps run ahead use them) over several steps.
//
// Tolerance: the GPU sums weights in f32 where the host sums in f64 (and its exp rounds differently),
// so a pick may differ only when a cumulative probability (the draw's, top-p's) or a min-p ratio lies
// within that rounding of its boundary. A row whose every such quantity is farther than BOUNDARY
// from its boundary must pick exactly the host's token; over all rows, at least AGREE of them must.
import assert from "node:assert/strict";
import { type Backend, createBackend } from "../kernels/mod.ts";
import { createWebGpuBackend } from "../kernels/webgpu/backend.ts";
import {
  DEFAULT_SAMPLING,
  devicePick,
  newSamplerState,
  type SamplerState,
  sampleToken,
  type SamplingParams,
} from "../engine/mod.ts";
import { withLogitBias } from "../engine/logit_bias.ts";
import { mulberry32 } from "../engine/prng.ts";
import { pickTables } from "../models/shared/picks.ts";
import { webgpuMissing } from "./helpers/webgpu.ts";

/** Distance from a boundary (in probability, or ratio for min-p) below which a row may differ. */
const BOUNDARY = 1e-6;
/** Least fraction of rows whose pick must equal the host's. */
const AGREE = 0.99;
const ROWS = 96, VOCAB = 1003, PASSES = 4;

const CASES: Record<string, Partial<SamplingParams>> = {
  "greedy + penalties": {
    temperature: 0,
    presencePenalty: 0.5,
    frequencyPenalty: 0.3,
    repetitionPenalty: 1.3,
  },
  "temperature only": { temperature: 0.8 },
  "top_k": { temperature: 1, topK: 20 },
  "top_p": { temperature: 0.9, topP: 0.8 },
  "min_p": { temperature: 1.2, minP: 0.05 },
  "combined": {
    temperature: 0.7,
    topK: 50,
    topP: 0.9,
    minP: 0.02,
    presencePenalty: 0.4,
    frequencyPenalty: 0.2,
    repetitionPenalty: 1.1,
  },
  "logit_bias": { temperature: 1, topP: 0.95, logitBias: { "3": 5, "17": -100, "250": 2.5, "5000": 9 } },
};

/** Rows of seeded logits (a quarter of them with many ties) and a sampler state each, with counts. */
function inputs(seed: number) {
  const rand = mulberry32(seed);
  const logits: Float32Array[] = [], states: SamplerState[] = [];
  for (let r = 0; r < ROWS; r++) {
    const scale = 1 + 4 * rand(), ties = r % 4 === 0;
    logits.push(Float32Array.from({ length: VOCAB }, () => {
      const v = scale * (rand() + rand() + rand() - 1.5) * 2;
      return ties ? Math.round(v * 2) / 2 : v;
    }));
    const state = newSamplerState(seed * 1000 + r);
    for (let i = 0; i < 30; i++) {
      const id = Math.floor(rand() * VOCAB);
      state.counts.set(id, (state.counts.get(id) ?? 0) + 1);
    }
    states.push(state);
  }
  return { logits, states };
}

/** The host's adjusted logits (logit bias, then penalties), as engine/sampler.ts computes them. */
function adjusted(x: Float32Array, p: SamplingParams, counts: Map<number, number>): Float32Array {
  const out = withLogitBias(x, p.logitBias).slice();
  if (p.presencePenalty === 0 && p.frequencyPenalty === 0 && p.repetitionPenalty === 1) return out;
  for (const [id, n] of counts) {
    let v = out[id];
    if (p.repetitionPenalty !== 1) v = v > 0 ? v / p.repetitionPenalty : v * p.repetitionPenalty;
    out[id] = v - p.presencePenalty - p.frequencyPenalty * n;
  }
  return out;
}

/** How close (in probability) the row's pick is to a boundary where rounding could move it. */
function margin(x: Float32Array, p: SamplingParams, u: number): number {
  const sorted = Array.from(x.keys()).sort((a, b) => x[b] - x[a] || a - b);
  const max = x[sorted[0]];
  if (p.temperature <= 0) return max === x[sorted[1]] ? Infinity : (max - x[sorted[1]]) / Math.abs(max);
  const floor = max - 27.6 * p.temperature;
  const w = (c: number) => Math.exp((x[c] - max) / p.temperature);
  let ids = sorted.filter((c) => x[c] >= floor);
  let closest = Infinity;
  const filtered = p.topK > 0 || p.topP < 1 || p.minP > 0;
  if (filtered) {
    const total = ids.reduce((s, c) => s + w(c), 0);
    if (p.topK > 0) ids = ids.slice(0, p.topK);
    if (p.topP < 1) {
      let cum = 0;
      for (const [i, c] of ids.entries()) {
        cum += w(c) / total;
        closest = Math.min(closest, Math.abs(cum - p.topP));
        if (cum >= p.topP) {
          ids = ids.slice(0, i + 1);
          break;
        }
      }
    }
    if (p.minP > 0) {
      for (const c of ids) closest = Math.min(closest, Math.abs(w(c) - p.minP) / p.minP);
      const kept = ids.filter((c) => w(c) >= p.minP);
      ids = kept.length > 0 ? kept : ids.slice(0, 1);
    }
  } else ids.sort((a, b) => a - b);
  const sum = ids.reduce((s, c) => s + w(c), 0);
  let cum = 0;
  for (const c of ids) {
    cum += w(c) / sum;
    closest = Math.min(closest, Math.abs(cum - u));
  }
  return closest;
}

/** Each row's pick by the op on `backend`, and by the host sampler, and its margin. */
async function compare(backend: Backend, params: SamplingParams, seed: number) {
  const { logits, states } = inputs(seed);
  const rules = states.map((s) => devicePick(params, s));
  const host = logits.map((x, r) => sampleToken(x, params, structuredClone(states[r])));
  const margins = logits.map((x, r) => margin(adjusted(x, params, states[r].counts), params, rules[r].u));
  const tables = pickTables(rules, VOCAB);
  // Three unused entries (count -1) after the table, as the runner pads it.
  const k = tables.adjust.length / 4 + 3;
  const padded = new Float32Array(4 * k).fill(-1);
  padded.set(tables.adjust);
  const x = backend.tensor(ROWS, VOCAB), prm = backend.tensor(ROWS, 8);
  const adjust = backend.tensor(k, 4), out = backend.tensor(ROWS, 1, "i32");
  const all = new Float32Array(ROWS * VOCAB);
  logits.forEach((row, r) => all.set(row, r * VOCAB));
  backend.write(x, all);
  backend.write(prm, tables.params);
  backend.write(adjust, padded);
  await backend.submit([{ op: "pick", x, params: prm, adjust, k, out, n: ROWS }]);
  const picked = Array.from(await backend.read(out));
  return { picked, host, margins };
}

async function check(backend: Backend, name: string, params: SamplingParams) {
  let agree = 0, rows = 0;
  for (let pass = 0; pass < PASSES; pass++) {
    const { picked, host, margins } = await compare(backend, params, 17 + pass);
    picked.forEach((id, r) => {
      rows++;
      if (id === host[r]) agree++;
      else {
        assert.ok(
          margins[r] < BOUNDARY,
          `${name}, pass ${pass} row ${r}: picked ${id}, the host ${host[r]}, ${margins[r]} from a boundary`,
        );
      }
    });
  }
  assert.ok(agree / rows >= AGREE, `${name}: ${agree} of ${rows} picks agree`);
  return agree / rows;
}

/** Steps of the op keeping counts: the first loads them, the rest count each pick on the backend. */
const KEPT_STEPS = 5;

/**
 * The op keeping counts (PickOp.counts) over KEPT_STEPS steps on the same logits (so the picks repeat
 * and the counts decide them): each row's counts in its own row of the table (in reverse order, and
 * junk there before the load), loaded from the host's at the first step, then only bias sent up.
 * Each row's picks against sampleToken's, step by step, until the first that differs (then the
 * counts differ too); and the table at the end against the host's counts, for rows that never did.
 */
async function checkKept(backend: Backend, name: string, params: SamplingParams) {
  let agree = 0, rows = 0;
  for (let pass = 0; pass < 2; pass++) {
    const { logits, states } = inputs(31 + pass);
    const x = backend.tensor(ROWS, VOCAB),
      prm = backend.tensor(ROWS, 8),
      out = backend.tensor(ROWS, 1, "i32");
    const table = backend.tensor(ROWS + 2, VOCAB, "i32"), index = backend.tensor(ROWS, 1, "i32");
    const junk = mulberry32(pass);
    backend.write(table, Int32Array.from({ length: (ROWS + 2) * VOCAB }, () => Math.floor(junk() * 3)));
    backend.write(index, Int32Array.from({ length: ROWS }, (_, r) => ROWS + 1 - r));
    const differs = new Set<number>();
    for (let step = 0; step < KEPT_STEPS; step++) {
      const rules = states.map((s) => devicePick(params, s));
      const margins = logits.map((x, r) => margin(adjusted(x, params, states[r].counts), params, rules[r].u));
      const host = logits.map((x, r) => sampleToken(x, params, states[r]));
      const tables = pickTables(rules, VOCAB, step === 0);
      const k = Math.max(1, tables.adjust.length / 4);
      const adjust = backend.tensor(k, 4);
      const padded = new Float32Array(4 * k).fill(-1);
      padded.set(tables.adjust);
      const all = new Float32Array(ROWS * VOCAB);
      logits.forEach((row, r) => all.set(row, r * VOCAB));
      backend.write(x, all);
      backend.write(prm, tables.params);
      backend.write(adjust, padded);
      const counts = { table, rows: index, load: step === 0 };
      await backend.submit([{ op: "pick", x, params: prm, adjust, k, out, n: ROWS, counts }]);
      const picked = await backend.read(out);
      picked.forEach((id, r) => {
        if (differs.has(r)) return;
        rows++;
        if (id === host[r]) agree++;
        else {
          differs.add(r);
          assert.ok(
            margins[r] < BOUNDARY,
            `${name}, pass ${pass} step ${step} row ${r}: picked ${id}, the host ${host[r]}, ${
              margins[r]
            } from a boundary`,
          );
        }
      });
    }
    const kept = Int32Array.from(await backend.read(table));
    states.forEach((state, r) => {
      if (differs.has(r)) return;
      const want = new Int32Array(VOCAB);
      for (const [id, n] of state.counts) want[id] = n;
      const at = (ROWS + 1 - r) * VOCAB;
      assert.deepEqual(
        kept.subarray(at, at + VOCAB),
        want,
        `${name}, pass ${pass} row ${r}: the counts kept`,
      );
    });
  }
  assert.ok(agree / rows >= AGREE, `${name}: ${agree} of ${rows} picks agree`);
  return agree / rows;
}

/** The penalized cases, and greedy drawn back to its picks (presence below 0) so they repeat. */
const PENALIZED: Record<string, Partial<SamplingParams>> = {
  "greedy + penalties": CASES["greedy + penalties"],
  "combined": CASES["combined"],
  "greedy + penalties that repeat": {
    temperature: 0,
    presencePenalty: -1,
    frequencyPenalty: 0.4,
    repetitionPenalty: 0.95,
    logitBias: { "3": 1 },
  },
};

Deno.test("pick op on the reference backend: the host sampler's tokens", async () => {
  const backend = await createBackend({ capacity: 1 << 24, maxCols: VOCAB }, "reference");
  for (const [name, c] of Object.entries(CASES)) await check(backend, name, { ...DEFAULT_SAMPLING, ...c });
});

Deno.test("pick op keeping counts on the reference backend: the host sampler's tokens and counts", async () => {
  const backend = await createBackend({ capacity: 1 << 25, maxCols: VOCAB }, "reference");
  for (const [name, c] of Object.entries(PENALIZED)) {
    await checkKept(backend, name, { ...DEFAULT_SAMPLING, ...c });
  }
});

const missing = await webgpuMissing();
if (missing) {
  Deno.test({ name: `webgpu pick op: skipped (${missing})`, ignore: true, fn() {} });
} else {
  Deno.test("webgpu pick op: the host sampler's tokens, within the boundary tolerance", async () => {
    const backend = await createWebGpuBackend();
    try {
      for (const [name, c] of Object.entries(CASES)) {
        const share = await check(backend, name, { ...DEFAULT_SAMPLING, ...c });
        console.log(`${name}: ${(share * 100).toFixed(1)} % equal`);
      }
    } finally {
      backend.close();
    }
  });

  Deno.test("webgpu pick op keeping counts: the host sampler's tokens and counts, within the tolerance", async () => {
    const backend = await createWebGpuBackend();
    try {
      for (const [name, c] of Object.entries(PENALIZED)) {
        const share = await checkKept(backend, name, { ...DEFAULT_SAMPLING, ...c });
        console.log(`${name}, counts kept: ${(share * 100).toFixed(1)} % equal`);
      }
    } finally {
      backend.close();
    }
  });
}
