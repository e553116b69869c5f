// Quantized weights (kernels/quant.ts): the formats' round-trip error, and the WASM q8/q4 matmul
// (integer dot products on activations quantized per block) against its f64 oracle
// (quantizedMatmulOracle) on seeded random inputs: one token and many, on one thread, two threads
// and the baseline build, with rows that end in a partial tile. Tolerance: 1e-5 relative to the
// magnitude of the sum (f32 accumulation of exact integer block sums). A token's result is the same
// alone as in a batch, exactly.
import assert from "node:assert/strict";
import { type Backend, type BackendSize, type MatrixSource, quantizeMatrix } from "../kernels/mod.ts";
import { dequantizeRow, type QuantFormat, quantizedMatmulOracle } from "../kernels/quant.ts";
import { createReferenceBackend } from "../kernels/reference/backend.ts";
import { createWasmBackend } from "../kernels/wasm/backend.ts";
import { mulberry32 } from "../engine/prng.ts";

const reference = createReferenceBackend();

function randomF32(rows: number, cols: number, rand: () => number): MatrixSource {
  const f32 = new Float32Array(rows * cols).map(() => (rand() * 2 - 1) * (rand() < 0.05 ? 8 : 1));
  return { rows, cols, dtype: "f32", bytes: new Uint8Array(f32.buffer) };
}

for (const format of ["q8", "q4"] as const) {
  Deno.test(`${format}: every weight within half a step of its block (q4: but the clamped), the largest exact`, () => {
    const rand = mulberry32(5);
    const src = randomF32(9, 96, rand);
    const q = quantizeMatrix(src, format);
    const m = reference.matrix(q);
    const original = new Float32Array(src.bytes.buffer);
    const row = new Float32Array(96);
    const levels = format === "q8" ? 127 : 8;
    for (let r = 0; r < 9; r++) {
      dequantizeRow(format, m.data as Int8Array, m.scales!, 96, r, row);
      for (let b = 0; b < 3; b++) {
        const block = original.subarray(r * 96 + 32 * b, r * 96 + 32 * b + 32);
        const max = Math.max(...block.map(Math.abs));
        const step = max / levels;
        // q4's levels run from −8 to 7 steps on the largest weight's side: a weight of the other sign
        // beyond 7.5 steps is clamped to 7.
        const signed = block.find((v) => Math.abs(v) === max)!;
        for (let i = 0; i < 32; i++) {
          const err = Math.abs(row[32 * b + i] - block[i]);
          const clamped = format === "q4" && -block[i] / signed > 7.5 / 8;
          const bound = (clamped ? Math.abs(block[i]) - 7 * step : step / 2) + 1e-6 * max;
          assert.ok(err <= bound, `row ${r} col ${32 * b + i}: ${row[32 * b + i]} vs ${block[i]}`);
        }
        const at = block.findIndex((v) => Math.abs(v) === max);
        assert.ok(
          Math.abs(row[32 * b + at] - block[at]) <= 1e-6 * max,
          "the block's largest weight is exact",
        );
      }
    }
    assert.equal(q.bytes.byteLength, format === "q8" ? 9 * 96 + 4 * 27 : 9 * 48 + 4 * 27);
  });
}

Deno.test("a matrix whose width is no whole number of blocks is refused", () => {
  assert.throws(() => quantizeMatrix(randomF32(2, 40, mulberry32(1)), "q8"), /whole blocks of 32/);
});

const BACKENDS: [string, (size: BackendSize) => Promise<Backend>][] = [
  ["wasm", (size) => createWasmBackend(size)],
  [
    "wasm 2 threads",
    (size) => createWasmBackend({ ...size, threads: 2, minParallelWork: 0, adaptiveSplit: false }),
  ],
  ["wasm baseline (no relaxed SIMD)", (size) => createWasmBackend({ ...size, baseline: true })],
];

for (const [name, make] of BACKENDS) {
  for (const format of ["q8", "q4"] as QuantFormat[]) {
    for (const [rows, cols, tokens] of [[1, 32, 1], [7, 64, 3], [33, 96, 1], [130, 256, 5]]) {
      Deno.test(`${name} matmul ${format} ${rows}x${cols}, ${tokens} token(s), matches the reference`, async () => {
        const rand = mulberry32(rows * 31 + cols + tokens);
        const src = quantizeMatrix(randomF32(rows, cols, rand), format);
        const backend = await make({ capacity: 1 << 22, maxCols: cols });
        try {
          const m = backend.matrix(src), mr = reference.matrix(src);
          const x = backend.f32(tokens * cols);
          for (let i = 0; i < x.length; i++) x[i] = rand() * 2 - 1;
          const y = backend.f32(tokens * rows);
          backend.matmul(m, x, y, tokens);
          const want = quantizedMatmulOracle(format, mr.data as Int8Array, mr.scales!, rows, cols, x, tokens);
          const scale = cols * 8;
          for (let i = 0; i < y.length; i++) {
            assert.ok(Math.abs(y[i] - want[i]) <= 1e-5 * scale, `[${i}]: ${y[i]} vs oracle ${want[i]}`);
          }
          // Each token alone gives the same bits as in the batch.
          const one = backend.f32(rows);
          for (let t = 0; t < tokens; t++) {
            backend.matmul(m, x.subarray(t * cols, (t + 1) * cols), one, 1);
            assert.deepEqual(one, y.subarray(t * rows, (t + 1) * rows), `token ${t} alone`);
          }
          const v = backend.f32(rows);
          backend.matvec(m, x.subarray(0, cols), v);
          assert.deepEqual(v, y.subarray(0, rows), "matvec is the one-token matmul");
        } finally {
          backend.close();
        }
      });
    }
  }
}
