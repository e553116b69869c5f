// Every backend against the pure-TS reference on seeded random inputs, on aligned shapes and on
// shapes that end in a tail (widths no multiple of the SIMD width or of the 16-bit groups, rows and
// tokens no multiple of matmul's 4 x 2 tile). Tolerance: 1e-5 relative to the magnitude of the sum
// (f32 summation order differs).
import assert from "node:assert/strict";
import type { Backend, BackendSize } from "../kernels/mod.ts";
import { createReferenceBackend } from "../kernels/reference/backend.ts";
import { createWasmBackend } from "../kernels/wasm/backend.ts";
import { mulberry32 } from "../engine/prng.ts";
import { randomMatrix } from "./helpers/random_matrix.ts";

const reference = createReferenceBackend();
const TOL = 1e-5;

function fill(backend: Backend, n: number, rand: () => number): Float32Array {
  const a = backend.f32(n);
  for (let i = 0; i < n; i++) a[i] = rand() * 2 - 1;
  return a;
}

/** NaN floats after each guarded buffer: a kernel that reads past a row's end gets NaN into its sums. */
const GUARD = 8;

/** `n` random values in backend memory (zeros if no `rand`), followed by GUARD NaNs. */
function guarded(backend: Backend, n: number, rand?: () => number): Float32Array {
  const a = backend.f32(n + GUARD).fill(NaN).subarray(0, n);
  for (let i = 0; i < n; i++) a[i] = rand ? rand() * 2 - 1 : 0;
  return a;
}

/** Fails if a kernel wrote past the end of a guarded buffer. */
function assertGuardKept(a: Float32Array, what: string) {
  const after = new Float32Array(a.buffer, a.byteOffset + a.byteLength, GUARD);
  assert.ok(after.every(Number.isNaN), `${what}: written past its end (${after.join(", ")})`);
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
  [
    "wasm 2 threads",
    (size) => createWasmBackend({ ...size, threads: 2, minParallelWork: 0, adaptiveSplit: false }),
  ],
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
    // [16, 40] and [136, 264] are placed as groups of 8 rows (kernels/wasm/row_groups.ts).
    for (const [rows, cols] of [[1, 8], [7, 24], [33, 64], [130, 264], [16, 40], [136, 264]]) {
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
  // Rows placed in groups of 8 give bitwise the outputs of the same rows placed row-major: 64 rows
  // are grouped, 65 (the same 64 and one more) are not. Token counts on both sides of where the
  // grouped kernels stop reading each token straight from the group (matmul.c: 12 for f32, 32 for
  // 16 bits).
  for (const dtype of ["f32", "f16", "bf16"] as const) {
    Deno.test(`${name} matmul ${dtype}: grouped rows give bitwise the row-major outputs`, async () => {
      const rand = mulberry32(dtype.length * 4111);
      await withBackend(make, { capacity: 1 << 22, maxCols: 96 }, (backend) => {
        const cols = 96, more = randomMatrix(65, cols, dtype, rand);
        const rowBytes = more.bytes.byteLength / 65;
        const grouped = backend.matrix({ ...more, rows: 64, bytes: more.bytes.subarray(0, 64 * rowBytes) });
        const rowMajor = backend.matrix(more);
        assert.equal(typeof grouped.handle, "number", "64 rows are grouped");
        assert.ok(rowMajor.data, "65 rows are not");
        for (const tokens of [1, 2, 5, 13, 33]) {
          const x = fill(backend, cols * tokens, rand);
          // One token of f16 reads x scaled by 2^112 unless some |x| reaches 2^16: both ways here.
          if (tokens === 1 && dtype === "f16") x[7] = 70000;
          const [a, b] = [backend.f32(64 * tokens), backend.f32(65 * tokens)];
          backend.matmul(grouped, x, a, tokens);
          backend.matmul(rowMajor, x, b, tokens);
          for (let t = 0; t < tokens; t++) {
            assert.deepEqual(a.subarray(t * 64, (t + 1) * 64), b.subarray(t * 65, t * 65 + 64), `token ${t}`);
          }
        }
      });
    });
  }
  // Batch invariance: a token's outputs do not depend on how many tokens share the call (one token
  // takes matmul's 8-row decode path, several its 4 x 2 tiles), so batched decode equals solo.
  for (const dtype of ["f32", "f16", "bf16"] as const) {
    Deno.test(`${name} matmul ${dtype}: each token alone gives bitwise the outputs of the batched call`, async () => {
      const rand = mulberry32(dtype.length * 977);
      await withBackend(make, { capacity: 1 << 22, maxCols: 257 }, (backend) => {
        for (const [rows, cols] of [[8, 12], [13, 36], [33, 100], [17, 257], [64, 64]]) {
          const m = backend.matrix(randomMatrix(rows, cols, dtype, rand));
          const tokens = 5;
          const x = fill(backend, cols * tokens, rand);
          const batched = backend.f32(rows * tokens);
          backend.matmul(m, x, batched, tokens);
          for (let t = 0; t < tokens; t++) {
            const alone = backend.f32(rows);
            backend.matmul(m, x.subarray(t * cols, (t + 1) * cols), alone, 1);
            assert.deepEqual(
              alone,
              batched.subarray(t * rows, (t + 1) * rows),
              `${rows}x${cols}, token ${t}`,
            );
          }
        }
      });
    });
  }
  // Widths that end in a tail: 1..3 columns past the last 4-wide vector, 1..7 past the last 8 halves.
  for (const dtype of ["f32", "f16", "bf16"] as const) {
    for (const cols of [1, 3, 6, 7, 9, 13, 100, 257]) {
      Deno.test(`${name} matvec and matmul ${dtype} with ${cols} columns match the reference (rows 1, 5, 33; tokens 1, 2, 3, 5)`, async () => {
        const rand = mulberry32(cols * 131 + dtype.length);
        await withBackend(make, { capacity: 1 << 22, maxCols: cols }, (backend) => {
          for (const rows of [1, 5, 33]) {
            const src = randomMatrix(rows, cols, dtype, rand);
            const [m, ref] = [backend.matrix(src), reference.matrix(src)];
            const scale = dtype === "f16" ? 256 * cols : cols;
            for (const tokens of [1, 2, 3, 5]) {
              const what = `${rows}x${cols} over ${tokens} token(s)`;
              const x = guarded(backend, cols * tokens, rand);
              const expected = new Float32Array(rows * tokens);
              reference.matmul(ref, x.slice(), expected, tokens);
              const y = guarded(backend, rows * tokens);
              backend.matmul(m, x, y, tokens);
              assertClose(y, expected, scale, `matmul ${what}: y`);
              assertGuardKept(y, `matmul ${what}: y`);
              if (tokens > 1) continue;
              const yv = guarded(backend, rows);
              backend.matvec(m, x, yv);
              assertClose(yv, expected, scale, `matvec ${what}: y`);
              assertGuardKept(yv, `matvec ${what}: y`);
            }
          }
        });
      });
    }
  }
  for (
    const [tokens, heads, headSize] of [[1, 1, 4], [3, 2, 16], [5, 4, 64], [1, 1, 1], [2, 3, 7], [3, 2, 13]]
  ) {
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
