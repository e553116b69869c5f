// The q8/q4 op cases of tests/webgpu_test.ts: quantized weights against the reference backend, which
// dequantizes them (the formats' oracle). Not in OP_CASES: the WASM kernels quantize activations too,
// so they are checked against their own oracle (tests/quant_kernels_test.ts).
import { type QuantFormat, quantizeMatrix, viewMatrix } from "../../kernels/mod.ts";
import type { Case } from "./webgpu_op_cases.ts";
import type { Inputs } from "./webgpu.ts";

/**
 * Quantized matmul: each weight dequantized to the same f32 the reference gets, so only the order
 * of the f32 sums differs from the reference's.
 */
export const TOL_QUANT_MATMUL = 1e-4;

/** `[rows][cols]` random weights quantized into `format` (blocks of 32 columns, with scales). */
function quantSource(inp: Inputs, rows: number, cols: number, format: QuantFormat) {
  const f = Float32Array.from({ length: rows * cols }, () => inp.next());
  return quantizeMatrix({ rows, cols, dtype: "f32", bytes: new Uint8Array(f.buffer) }, format);
}

/** Matmul and embed on q8 and q4 weights, a workgroup's token tile crossed, host and placed tables. */
export const QUANT_CASES: Case[] = [];
for (const format of ["q8", "q4"] as const) {
  for (const [rows, cols, n] of [[7, 64, 3], [33, 160, 9]]) {
    QUANT_CASES.push([`matmul ${format} ${rows}x${cols}, ${n} tokens`, TOL_QUANT_MATMUL, (inp) => {
      const w = inp.backend.matrix(quantSource(inp, rows, cols, format));
      const x = inp.random(n, cols), out = inp.random(n, rows);
      return { ops: [{ op: "matmul", w, x, out, n }], outputs: { out } };
    }]);
  }
  QUANT_CASES.push([`matmul ${format} on a host matrix (a tied head)`, TOL_QUANT_MATMUL, (inp) => {
    const w = viewMatrix(quantSource(inp, 19, 96, format));
    const x = inp.random(2, 96), out = inp.random(2, 19);
    return { ops: [{ op: "matmul", w, x, out, n: 2 }], outputs: { out } };
  }]);
  QUANT_CASES.push([`embed ${format}, placed and from a host matrix`, 0, (inp) => {
    const src = quantSource(inp, 11, 64, format);
    const placed = inp.backend.matrix(src), host = viewMatrix(src);
    const ids = inp.ints([3, 0, 10, 3]), a = inp.random(4, 64), b = inp.random(4, 64);
    return {
      ops: [{ op: "embed", table: placed, ids, out: a, n: 4 }, {
        op: "embed",
        table: host,
        ids,
        out: b,
        n: 3,
      }],
      outputs: { a, b },
    };
  }]);
}
