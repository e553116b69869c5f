/**
 * q8 and q4 matrices in GPU memory (kernels/quant.ts's formats), and the WGSL that reads them. A
 * quantized matrix is one storage buffer of u32 words: every row's packed weights (q8: four signed
 * bytes per word, column 4k + i in byte i; q4: eight nibbles per word, byte j of a block holding
 * column j in its low nibble and j + 16 in its high one), then every row's block scales as f32
 * bits. That is a quantized {@linkcode MatrixSource}'s byte layout as it is, uploaded unchanged.
 * Shaders dequantize as the reference does: the integer weight (q4: minus 8) times its block's
 * scale, rounded once to f32.
 *
 * @module
 */

import { packedBytes, QUANT_BLOCK, type QuantFormat, quantizedBytes } from "../quant.ts";

/** Where a quantized matrix's parts sit in its buffer, in u32 words. */
export interface QuantLayout {
  /** Words of packed weights per row. */
  readonly words: number;
  /** The first scale's word (after every row's packed weights). */
  readonly scaleAt: number;
  /** Blocks (scales) per row. */
  readonly blocks: number;
}

/** The layout of a `rows × cols` matrix in `format` (cols a whole number of blocks). */
export function quantLayout(format: QuantFormat, rows: number, cols: number): QuantLayout {
  if (cols % QUANT_BLOCK !== 0) {
    throw new RangeError(`A ${format} matrix has whole blocks of ${QUANT_BLOCK} columns, not ${cols}`);
  }
  return {
    words: packedBytes(format, 1, cols) / 4,
    scaleAt: packedBytes(format, rows, cols) / 4,
    blocks: cols / QUANT_BLOCK,
  };
}

/** Checks a quantized matrix's bytes (packed weights, then scales) and returns them for upload. */
export function packQuantized(
  m: { rows: number; cols: number; dtype: QuantFormat; bytes: Uint8Array },
): Uint8Array {
  const want = quantizedBytes(m.dtype, m.rows, m.cols);
  if (m.bytes.byteLength !== want) {
    throw new RangeError(
      `A [${m.rows}][${m.cols}] ${m.dtype} matrix needs ${want} bytes (weights, then scales), got ${m.bytes.byteLength}`,
    );
  }
  quantLayout(m.dtype, m.rows, m.cols);
  return m.bytes;
}

/**
 * WGSL reading a quantized matrix bound as `w: array<u32>` with parameters `p.words`, `p.scaleAt`
 * and `p.blocks`: `scale(row, b)`, block b's scale; `element(row, c)`, one dequantized weight; and
 * `quad(row, k, half)`, four dequantized weights of packed word k with their first column
 * `quadColumn(k, half)` (q8: the word's four columns, half 0 only; q4: half 0 the low nibbles,
 * half 1 the high ones, 16 columns later).
 */
export function dequant(format: QuantFormat): string {
  const common = `
fn scale(row: u32, b: u32) -> f32 { return bitcast<f32>(w[p.scaleAt + row * p.blocks + b]); }`;
  if (format === "q8") {
    return `${common}
fn sbyte(word: u32, i: u32) -> f32 { return f32(bitcast<i32>(word << (24u - 8u * i)) >> 24u); }
fn element(row: u32, c: u32) -> f32 {
  return sbyte(w[row * p.words + c / 4u], c % 4u) * scale(row, c / 32u);
}
fn quadColumn(k: u32, half: u32) -> u32 { return 4u * k; }
fn quad(row: u32, k: u32, half: u32) -> vec4<f32> {
  let u = w[row * p.words + k];
  let q = vec4<f32>(sbyte(u, 0u), sbyte(u, 1u), sbyte(u, 2u), sbyte(u, 3u));
  return q * scale(row, k / 8u);
}`;
  }
  return `${common}
fn element(row: u32, c: u32) -> f32 {
  let j = c % 32u;
  let byte = (c / 32u) * 16u + j % 16u; // the byte of the row holding column c
  let u = w[row * p.words + byte / 4u] >> (8u * (byte % 4u) + select(0u, 4u, j >= 16u));
  return (f32(u & 15u) - 8.0) * scale(row, c / 32u);
}
fn quadColumn(k: u32, half: u32) -> u32 { return 32u * (k / 4u) + 4u * (k % 4u) + 16u * half; }
fn quad(row: u32, k: u32, half: u32) -> vec4<f32> {
  let u = w[row * p.words + k] >> (4u * half);
  let q = vec4<f32>(f32(u & 15u), f32((u >> 8u) & 15u), f32((u >> 16u) & 15u), f32((u >> 24u) & 15u));
  return (q - vec4<f32>(8.0)) * scale(row, k / 4u);
}`;
}
