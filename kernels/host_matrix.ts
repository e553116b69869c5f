/**
 * A {@linkcode Matrix} over a source's bytes in host memory: the reference backend's weights, and the
 * tables the models look rows up in (embeddings). Float matrices view their elements; q8/q4 ones
 * their packed weights and, after them, their scales (kernels/quant.ts's layout).
 *
 * @module
 */

import { isQuantized, packedBytes, QUANT_BLOCK } from "./quant.ts";
import type { Matrix, MatrixSource } from "./types.ts";

/**
 * `src` as a host matrix viewing `bytes` (its bytes, or a copy of them), which must start at a
 * multiple of 4 bytes: the views share its memory.
 */
export function viewMatrix(src: MatrixSource, bytes: Uint8Array = src.bytes): Matrix {
  if (bytes.byteOffset % 4 !== 0) throw new RangeError("A host matrix's bytes must be 4-byte aligned");
  const { rows, cols, dtype } = src;
  const n = rows * cols;
  const { buffer, byteOffset: at } = bytes;
  if (isQuantized(dtype)) {
    const packed = packedBytes(dtype, rows, cols);
    const data = dtype === "q8" ? new Int8Array(buffer, at, n) : new Uint8Array(buffer, at, packed);
    const scales = new Float32Array(buffer, at + packed, n / QUANT_BLOCK);
    return { rows, cols, dtype, data, scales };
  }
  const data = dtype === "f32" ? new Float32Array(buffer, at, n) : new Uint16Array(buffer, at, n);
  return { rows, cols, dtype, data };
}
