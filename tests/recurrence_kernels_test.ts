// The family recurrences (Mamba selective scan, Mamba-2 SSD, RetNet retention, RWKV-4 WKV): every
// WASM backend against the pure-TS reference on seeded random inputs, on aligned sizes and on sizes
// that end in a tail (state sizes, key widths, channels no multiple of the 4 SIMD lanes). Tolerance
// 2e-5 relative: the WASM kernels use an f32 polynomial exp and f32 sums, the reference f64 Math.exp.
import assert from "node:assert/strict";
import type { Backend } from "../kernels/mod.ts";
import { createReferenceBackend } from "../kernels/reference/backend.ts";
import { createWasmBackend } from "../kernels/wasm/backend.ts";
import { mulberry32 } from "../engine/prng.ts";

const reference = createReferenceBackend();
const TOL = 2e-5;

/** NaN floats after every buffer: reading past an end poisons a result, writing past one is caught. */
const GUARD = 4;

function close(actual: Float32Array, expected: Float32Array, what: string) {
  const after = new Float32Array(actual.buffer, actual.byteOffset + actual.byteLength, GUARD);
  assert.ok(after.every(Number.isNaN), `${what}: written past its end (${after.join(", ")})`);
  for (let i = 0; i < actual.length; i++) {
    const scale = Math.max(1, Math.abs(expected[i]));
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= TOL * scale,
      `${what}[${i}]: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

/** `n` floats in `backend`'s memory, followed by GUARD NaNs; NaN themselves until a kernel writes them. */
function guarded(backend: Backend, n: number): Float32Array {
  return backend.f32(n + GUARD).fill(NaN).subarray(0, n);
}

/** Random f32 values in [lo, hi), placed in `backend`'s memory (guarded). */
function rand(backend: Backend, n: number, r: () => number, lo = -1, hi = 1): Float32Array {
  const a = guarded(backend, n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * r();
  return a;
}

/** Runs `run` on the reference and on the WASM backend with 1 and 2 threads (every call split). */
async function both(run: (b: Backend, r: () => number) => Float32Array[], seed: number, what: string) {
  const want = run(reference, mulberry32(seed));
  for (const [threads, baseline] of [[1, false], [2, false], [1, true]] as const) {
    const wasm = await createWasmBackend({
      capacity: 1 << 22,
      maxCols: 8,
      threads,
      minParallelWork: 0,
      adaptiveSplit: false,
      baseline,
    });
    try {
      const got = run(wasm, mulberry32(seed));
      got.forEach((g, i) =>
        close(g, want[i], `${what} (${threads} thread(s), baseline ${baseline}) output ${i}`)
      );
    } finally {
      wasm.close();
    }
  }
}

for (
  const [tokens, channels, stateSize] of [
    [1, 4, 4],
    [5, 12, 16],
    [9, 24, 8],
    [3, 5, 1],
    [4, 7, 6],
    [2, 3, 13],
  ]
) {
  Deno.test(`wasm selectiveScan ${tokens}x${channels}x${stateSize} matches the reference`, async () => {
    await both(
      (b, r) => {
        const state = rand(b, channels * stateSize, r);
        const io = {
          x: rand(b, tokens * channels, r),
          dt: rand(b, tokens * channels, r, 0.01, 2),
          a: rand(b, channels * stateSize, r, -8, -0.1),
          b: rand(b, tokens * stateSize, r),
          c: rand(b, tokens * stateSize, r),
          d: rand(b, channels, r),
          z: rand(b, tokens * channels, r, -4, 4),
          y: guarded(b, tokens * channels),
        };
        b.selectiveScan(state, io, { tokens, channels, stateSize });
        return [state, io.y];
      },
      tokens * 31 + channels,
      "selectiveScan",
    );
  });
}

for (
  const [tokens, heads, headDim, stateSize, groups] of [
    [1, 2, 4, 4, 1],
    [6, 4, 8, 8, 2],
    [3, 6, 4, 16, 3],
    [2, 3, 5, 7, 1],
    [3, 6, 3, 6, 3],
  ]
) {
  Deno.test(`wasm ssdScan ${tokens} tokens, ${heads} heads of ${headDim}, state ${stateSize}, ${groups} groups`, async () => {
    await both(
      (b, r) => {
        const state = rand(b, heads * headDim * stateSize, r);
        const io = {
          x: rand(b, tokens * heads * headDim, r),
          dt: rand(b, tokens * heads, r, 0.01, 2),
          dA: rand(b, tokens * heads, r, 0.1, 1),
          b: rand(b, tokens * groups * stateSize, r),
          c: rand(b, tokens * groups * stateSize, r),
          d: rand(b, heads, r),
          y: guarded(b, tokens * heads * headDim),
        };
        b.ssdScan(state, io, { tokens, heads, headDim, stateSize, groups });
        return [state, io.y];
      },
      tokens * 7 + heads,
      "ssdScan",
    );
  });
}

for (
  const [tokens, heads, keyDim, valueDim] of [
    [1, 1, 4, 4],
    [5, 2, 16, 32],
    [4, 3, 8, 12],
    [3, 3, 5, 7],
    [2, 2, 13, 3],
    [1, 1, 1, 1],
  ]
) {
  Deno.test(`wasm retention ${tokens} tokens, ${heads} heads, keys ${keyDim}, values ${valueDim}`, async () => {
    await both(
      (b, r) => {
        const kv = rand(b, heads * valueDim * keyDim, r);
        const io = {
          q: rand(b, tokens * heads * keyDim, r),
          k: rand(b, tokens * heads * keyDim, r),
          v: rand(b, tokens * heads * valueDim, r),
          keep: rand(b, tokens * heads, r, 0.5, 1),
          add: rand(b, tokens * heads, r, 0.1, 1),
          o: guarded(b, tokens * heads * valueDim),
        };
        b.retention(kv, io, { tokens, heads, keyDim, valueDim });
        return [kv, io.o];
      },
      tokens * 13 + heads,
      "retention",
    );
  });
}

for (const [tokens, channels] of [[1, 4], [7, 12], [20, 32], [3, 1], [5, 7], [4, 13]]) {
  Deno.test(`wasm wkv4 ${tokens} tokens x ${channels} channels matches the reference`, async () => {
    await both(
      (b, r) => {
        const state = {
          num: rand(b, channels, r),
          den: rand(b, channels, r, 0.5, 2),
          max: rand(b, channels, r, -3, 3),
        };
        state.max[0] = -1e30; // a fresh channel
        const io = {
          w: rand(b, channels, r, -5, -0.01),
          u: rand(b, channels, r, -2, 2),
          k: rand(b, tokens * channels, r, -6, 6),
          v: rand(b, tokens * channels, r),
          out: guarded(b, tokens * channels),
        };
        b.wkv4(state, io, { tokens, channels });
        return [state.num, state.den, state.max, io.out];
      },
      tokens * 17 + channels,
      "wkv4",
    );
  });
}
