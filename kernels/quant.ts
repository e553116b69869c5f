/**
 * Quantized weight formats. Both cut a matrix's rows into blocks of 32 columns, each with its own
 * f32 scale (so `cols` must be a multiple of 32):
 *
 * - `q8`: a signed byte per weight, `w ≈ q · d` with `d = max|w| / 127` (8 + 1 bits per weight).
 * - `q4`: four bits per weight, `w ≈ (q − 8) · d` with `d = m / −8`, where m is the block's weight of
 *   largest magnitude, sign included (so it is exact, and q spans 0..15 around it; 4 + 1 bits per
 *   weight). Byte j of a block holds weight j in its low nibble and weight j + 16 in its high one.
 *
 * A quantized {@linkcode MatrixSource}'s bytes are every row's packed weights (`rows · cols` bytes
 * for q8, half that for q4), then every row's scales (`rows · cols / 32` little-endian f32).
 *
 * @module
 */

import type { MatrixDType, MatrixSource } from "./types.ts";
import { bytesToF32 } from "./widen.ts";

/** The quantized weight formats. */
export type QuantFormat = "q8" | "q4";

/** Columns per block (one scale each). */
export const QUANT_BLOCK = 32;

/** Whether a dtype is one of the quantized formats. */
export function isQuantized(dtype: MatrixDType): dtype is QuantFormat {
  return dtype === "q8" || dtype === "q4";
}

/** Bytes of the packed weights of a `rows × cols` matrix in `format` (the scales follow them). */
export function packedBytes(format: QuantFormat, rows: number, cols: number): number {
  return format === "q8" ? rows * cols : rows * cols / 2;
}

/** Bytes of a `rows × cols` matrix in `format`: its packed weights and its scales. */
export function quantizedBytes(format: QuantFormat, rows: number, cols: number): number {
  return packedBytes(format, rows, cols) + (rows * cols / QUANT_BLOCK) * 4;
}

/** Whether a `rows × cols` matrix can be quantized (whole blocks per row). */
export function quantizable(cols: number): boolean {
  return cols > 0 && cols % QUANT_BLOCK === 0;
}

/** Quantizes a f32/f16/bf16 matrix source into `format` (see the module's layout). */
export function quantizeMatrix(src: MatrixSource, format: QuantFormat): MatrixSource {
  if (isQuantized(src.dtype)) throw new TypeError(`The matrix is already ${src.dtype}`);
  if (!quantizable(src.cols)) {
    throw new RangeError(`${format} needs columns in whole blocks of ${QUANT_BLOCK}, not ${src.cols}`);
  }
  const { rows, cols } = src;
  const values = bytesToF32(src.bytes, src.dtype);
  const packed = packedBytes(format, rows, cols);
  const blocks = rows * cols / QUANT_BLOCK;
  const out = new Uint8Array(quantizedBytes(format, rows, cols));
  const scales = new Float32Array(out.buffer, packed, blocks);
  for (let b = 0; b < blocks; b++) {
    const o = b * QUANT_BLOCK;
    if (format === "q8") quantizeBlock8(values, o, out, scales, b);
    else quantizeBlock4(values, o, out, scales, b);
  }
  return { name: src.name, rows, cols, dtype: format, bytes: out };
}

function quantizeBlock8(v: Float32Array, o: number, out: Uint8Array, scales: Float32Array, b: number): void {
  let max = 0;
  for (let i = 0; i < QUANT_BLOCK; i++) max = Math.max(max, Math.abs(v[o + i]));
  const d = max / 127;
  scales[b] = d;
  const inv = d === 0 ? 0 : 1 / d;
  for (let i = 0; i < QUANT_BLOCK; i++) out[o + i] = Math.round(v[o + i] * inv) & 0xff;
}

function quantizeBlock4(v: Float32Array, o: number, out: Uint8Array, scales: Float32Array, b: number): void {
  let m = 0;
  for (let i = 0; i < QUANT_BLOCK; i++) if (Math.abs(v[o + i]) > Math.abs(m)) m = v[o + i];
  const d = m / -8;
  scales[b] = d;
  const inv = d === 0 ? 0 : 1 / d;
  const q = (x: number) => Math.min(15, Math.max(0, Math.round(x * inv) + 8));
  const at = o / 2;
  for (let j = 0; j < QUANT_BLOCK / 2; j++) out[at + j] = q(v[o + j]) | (q(v[o + j + 16]) << 4);
}

/**
 * Row `r` of a quantized matrix as f32: each weight times its block's scale, rounded to f32 (what
 * the WASM kernels multiply with).
 */
export function dequantizeRow(
  format: QuantFormat,
  packed: Int8Array | Uint8Array,
  scales: Float32Array,
  cols: number,
  r: number,
  out: Float32Array,
): void {
  const nb = cols / QUANT_BLOCK;
  for (let b = 0; b < nb; b++) {
    const d = scales[r * nb + b];
    const o = b * QUANT_BLOCK;
    if (format === "q8") {
      const q = packed as Int8Array;
      for (let i = 0; i < QUANT_BLOCK; i++) out[o + i] = Math.fround(q[r * cols + o + i] * d);
    } else {
      const at = (r * cols + o) / 2;
      for (let j = 0; j < QUANT_BLOCK / 2; j++) {
        const byte = packed[at + j];
        out[o + j] = Math.fround(((byte & 15) - 8) * d);
        out[o + j + 16] = Math.fround(((byte >> 4) - 8) * d);
      }
    }
  }
}

/**
 * How the WASM kernels quantize activations before their integer dot products: per block of 32,
 * `x ≈ q · s` with `s = max|x| / 63` and q rounded half to even into -63..63.
 */
export function quantizeActivations(x: Float32Array, cols: number): { q: Int8Array; scales: Float32Array } {
  const nb = cols / QUANT_BLOCK;
  const rows = x.length / cols;
  const q = new Int8Array(x.length), scales = new Float32Array(rows * nb);
  for (let b = 0; b < rows * nb; b++) {
    const o = b * QUANT_BLOCK;
    let max = 0;
    for (let i = 0; i < QUANT_BLOCK; i++) max = Math.max(max, Math.abs(x[o + i]));
    scales[b] = Math.fround(max / 63);
    const inv = max > 0 ? Math.fround(63 / max) : 0;
    for (let i = 0; i < QUANT_BLOCK; i++) q[o + i] = roundHalfEven(Math.fround(x[o + i] * inv));
  }
  return { q, scales };
}

function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * What the WASM kernels compute for a quantized matrix, in f64 (the test oracle): per row and
 * token, Σ over blocks of (weight scale · activation scale) · Σ q_w · q_x.
 */
export function quantizedMatmulOracle(
  format: QuantFormat,
  packed: Int8Array | Uint8Array,
  scales: Float32Array,
  rows: number,
  cols: number,
  x: Float32Array,
  tokens: number,
): Float64Array {
  const nb = cols / QUANT_BLOCK;
  const { q: xq, scales: xs } = quantizeActivations(x, cols);
  const unit = new Float32Array(rows * nb).fill(1);
  const w = new Float32Array(cols);
  const out = new Float64Array(tokens * rows);
  for (let r = 0; r < rows; r++) {
    dequantizeRow(format, packed, unit, cols, r, w); // the integer weights
    for (let t = 0; t < tokens; t++) {
      let sum = 0;
      for (let b = 0; b < nb; b++) {
        let dot = 0;
        for (let i = 0; i < QUANT_BLOCK; i++) {
          dot += w[b * QUANT_BLOCK + i] * xq[t * cols + b * QUANT_BLOCK + i];
        }
        sum += dot * scales[r * nb + b] * xs[t * nb + b];
      }
      out[t * rows + r] = sum;
    }
  }
  return out;
}
