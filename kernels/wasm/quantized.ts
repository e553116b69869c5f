/**
 * q8/q4 weights in the WASM backend (matmul.c): where a quantized matrix lives in WASM memory and how
 * a matmul over it runs. x is quantized once per call (quantize_x), then the rows are run in groups
 * of 4, split between threads by the backend like any other call.
 *
 * @module
 */

import type { Matrix, MatrixSource } from "../types.ts";
import { dtypeBytes, widenTo } from "../widen.ts";
import { packedBytes, QUANT_BLOCK } from "../quant.ts";
import { viewMatrix } from "../host_matrix.ts";

/** Where a quantized matrix's parts start in WASM memory (grouped: see `place`). */
interface QuantizedHandle {
  /** Packed weights. */
  readonly w: number;
  /** f32 scales. */
  readonly s: number;
  /** i32 starting values of the blocks' dot products. */
  readonly b: number;
}

/** What the quantized kernels need of the backend. */
export interface QuantizedContext {
  readonly exports: WebAssembly.Exports;
  readonly buffer: ArrayBufferLike;
  /** Bytes of WASM memory, 64-byte aligned, for the backend's life. */
  alloc(byteLength: number): number;
  /** Where a view into WASM memory starts. */
  ptr(a: Float32Array): number;
  /** A scratch buffer of at least 4 rows of weights, for placing. */
  readonly scratch: number;
  /** Runs kernel `name` over `rows` rows (split between threads where that pays); part gives the arguments for rows [r0, r1). */
  run(
    name: "matmul_q8" | "matmul_q4",
    rows: number,
    part: (i: number, r0: number, r1: number) => number[],
    work: number,
  ): void;
}

/** Placing and multiplying q8/q4 matrices in a WASM backend's memory. */
export function quantizedKernels(ctx: QuantizedContext): {
  place(src: MatrixSource & { dtype: "q8" | "q4" }): Matrix;
  matmul(m: Matrix, x: Float32Array, y: Float32Array, tokens: number): void;
} {
  const { alloc, ptr, buffer } = ctx;
  const quantizeX = ctx.exports.quantize_x as (
    x: number,
    tokens: number,
    cols: number,
    xq: number,
    xs: number,
    xc: number,
  ) => void;
  const groupQ = ctx.exports.group_q as (
    w: number,
    s: number,
    b: number,
    rows4: number,
    cols: number,
    q4: number,
    tmp: number,
  ) => void;

  // Each call's quantized x (q + 64), its block scales and its blocks' sums (matmul.c), grown as needed.
  let xq = { at: 0, scales: 0, sums: 0, bytes: 0 };
  function matmul(m: Matrix, x: Float32Array, y: Float32Array, tokens: number): void {
    const nb = m.cols / QUANT_BLOCK;
    if (tokens * m.cols > xq.bytes) {
      const bytes = Math.max(tokens, 64) * m.cols;
      const perBlock = (bytes / QUANT_BLOCK) * 4;
      xq = { at: alloc(bytes), scales: alloc(perBlock), sums: alloc(perBlock), bytes };
    }
    quantizeX(ptr(x), tokens, m.cols, xq.at, xq.scales, xq.sums);
    const rowBytes = dtypeBytes(m.dtype) * m.cols;
    const { w, s, b } = m.handle as QuantizedHandle;
    const yp = ptr(y);
    const part = (_i: number, r0: number, r1: number) => [
      w + r0 * rowBytes,
      s + 4 * r0 * nb,
      b + 4 * r0 * nb,
      xq.at,
      xq.scales,
      yp + 4 * r0,
      r1 - r0,
      m.cols,
      tokens,
      m.rows,
      xq.sums,
    ];
    ctx.run(m.dtype === "q8" ? "matmul_q8" : "matmul_q4", m.rows, part, m.rows * m.cols * tokens);
  }

  // A q8/q4 matrix in backend memory: its weights, scales and the dot products' starting values
  // (−64 × each block's Σ w), as groups of 4 rows, the last padded with zero rows (matmul.c).
  function place(src: MatrixSource & { dtype: "q8" | "q4" }): Matrix {
    const { rows, cols, dtype } = src;
    const rows4 = Math.ceil(rows / 4) * 4, nb = cols / QUANT_BLOCK;
    const packed = packedBytes(dtype, rows, cols);
    const w = alloc(packedBytes(dtype, rows4, cols)), s = alloc(rows4 * nb * 4), b = alloc(rows4 * nb * 4);
    new Uint8Array(buffer, w, packedBytes(dtype, rows4, cols)).fill(0).set(src.bytes.subarray(0, packed));
    new Uint8Array(buffer, s, rows4 * nb * 4).fill(0).set(src.bytes.subarray(packed));
    const starts = new Int32Array(buffer, b, rows4 * nb).fill(0);
    const view = viewMatrix(src, src.bytes.byteOffset % 4 === 0 ? src.bytes : src.bytes.slice());
    const unit = { ...view, scales: new Float32Array(rows * nb).fill(1) };
    const row = new Float32Array(cols);
    for (let r = 0; r < rows; r++) {
      widenTo(unit, r, row); // the integer weights
      for (let j = 0; j < nb; j++) {
        let sum = 0;
        for (let i = 0; i < QUANT_BLOCK; i++) sum += row[j * QUANT_BLOCK + i];
        starts[r * nb + j] = -64 * sum;
      }
    }
    groupQ(w, s, b, rows4, cols, dtype === "q4" ? 1 : 0, ctx.scratch);
    const handle: QuantizedHandle = { w, s, b };
    return { rows, cols, dtype, handle };
  }

  return { place, matmul };
}
