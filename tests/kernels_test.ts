// Every backend against the pure-TS reference on seeded random inputs.
// Tolerance: 1e-5 relative to the magnitude of the sum (f32 summation order differs).
import assert from "node:assert/strict";
import type { Backend, BackendSize, MatrixSource, WeightDType } from "../kernels/mod.ts";
import { createReferenceBackend } from "../kernels/reference/backend.ts";
import { createWasmBackend } from "../kernels/wasm/backend.ts";
import { mulberry32 } from "../engine/prng.ts";

const reference = createReferenceBackend();
const TOL = 1e-5;

function randomMatrix(rows: number, cols: number, dtype: WeightDType, rand: () => number): MatrixSource {
  const f32 = new Float32Array(rows * cols).map(() => rand() * 2 - 1);
  if (dtype === "f32") return { rows, cols, dtype, bytes: new Uint8Array(f32.buffer) };
  const bits = new Uint16Array(rows * cols);
  const u32 = new Uint32Array(f32.buffer);
  for (let i = 0; i < bits.length; i++) {
    // bf16: top half of the f32; f16: a random half below 256 (subnormals included).
    bits[i] = dtype === "bf16" ? u32[i] >>> 16 : (Math.floor(rand() * 0x5c00) | (rand() < 0.5 ? 0x8000 : 0));
  }
  return { rows, cols, dtype, bytes: new Uint8Array(bits.buffer) };
}

function fill(backend: Backend, n: number, rand: () => number): Float32Array {
  const a = backend.f32(n);
  for (let i = 0; i < n; i++) a[i] = rand() * 2 - 1;
  return a;
}

function assertClose(actual: Float32Array, expected: Float32Array, scale: number, what: string) {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    assert.ok(err <= TOL * scale + 1e-30, `${what}[${i}]: ${actual[i]} vs reference ${expected[i]}`);
  }
}

// Each backend under test, made for a size; the threaded one splits even the smallest call.
const BACKENDS: [string, (size: BackendSize) => Promise<Backend>][] = [
  ["wasm", (size) => createWasmBackend(size)],
  ["wasm 2 threads", (size) => createWasmBackend({ ...size, threads: 2, minParallelWork: 0 })],
  ["wasm baseline (no relaxed SIMD)", (size) => createWasmBackend({ ...size, baseline: true })],
];

/** Runs `fn` on a fresh backend and closes it (its workers) afterwards. */
async function withBackend(
  make: (size: BackendSize) => Promise<Backend>,
  size: BackendSize,
  fn: (b: Backend) => void,
) {
  const backend = await make(size);
  try {
    fn(backend);
  } finally {
    backend.close();
  }
}

for (const [name, make] of BACKENDS) {
  for (const dtype of ["f32", "f16", "bf16"] as const) {
    for (const [rows, cols] of [[1, 8], [7, 24], [33, 64], [130, 264]]) {
      Deno.test(`${name} matvec ${dtype} ${rows}x${cols} matches the reference`, async () => {
        const rand = mulberry32(rows * 1000 + cols);
        await withBackend(make, { capacity: 1 << 22, maxCols: cols }, (backend) => {
          const src = randomMatrix(rows, cols, dtype, rand);
          const x = fill(backend, cols, rand);
          const y = backend.f32(rows);
          backend.matvec(backend.matrix(src), x, y);
          const expected = new Float32Array(rows);
          reference.matvec(reference.matrix(src), x.slice(), expected);
          const scale = dtype === "f16" ? 256 * cols : cols;
          assertClose(y, expected, scale, "y");
        });
      });
      for (const tokens of [1, 2, 5]) {
        Deno.test(`${name} matmul ${dtype} ${rows}x${cols} over ${tokens} tokens matches the reference`, async () => {
          const rand = mulberry32(rows * 7 + cols * 13 + tokens);
          await withBackend(make, { capacity: 1 << 22, maxCols: cols }, (backend) => {
            const src = randomMatrix(rows, cols, dtype, rand);
            const x = fill(backend, cols * tokens, rand);
            const y = backend.f32(rows * tokens);
            backend.matmul(backend.matrix(src), x, y, tokens);
            const expected = new Float32Array(rows * tokens);
            reference.matmul(reference.matrix(src), x.slice(), expected, tokens);
            const scale = dtype === "f16" ? 256 * cols : cols;
            assertClose(y, expected, scale, "y");
          });
        });
      }
    }
  }
  for (const [tokens, heads, headSize] of [[1, 1, 4], [3, 2, 16], [5, 4, 64]]) {
    Deno.test(`${name} wkv7 ${tokens} tokens x ${heads} heads of ${headSize} matches the reference`, async () => {
      const rand = mulberry32(tokens * 100 + heads * 10 + headSize);
      await withBackend(make, { capacity: 1 << 22, maxCols: 8 }, (backend) => {
        const c = heads * headSize;
        const n = tokens * c;
        const state = fill(backend, heads * headSize * headSize, rand);
        const io = {
          r: fill(backend, n, rand),
          w: fill(backend, n, rand).map((x) => 0.5 + 0.5 * Math.abs(x)),
          k: fill(backend, n, rand),
          v: fill(backend, n, rand),
          a: fill(backend, n, rand),
          b: fill(backend, n, rand),
          y: backend.f32(n),
        };
        // map() copies out of backend memory: put the decay back in.
        const w = backend.f32(n);
        w.set(io.w);
        const wasmIo = { ...io, w };
        const refState = state.slice();
        const refIo = { ...io, y: new Float32Array(n) };
        backend.wkv7(state, wasmIo, { tokens, heads, headSize });
        reference.wkv7(refState, refIo, { tokens, heads, headSize });
        assertClose(state, refState, headSize * 4, "state");
        assertClose(wasmIo.y, refIo.y, headSize * 16, "y");
      });
    });
  }
}
