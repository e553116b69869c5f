/**
 * Float matrices the WASM backend places as groups of 8 rows, interleaved in 16-byte pieces
 * (`[rows / 8][piece][row 0..7][16 bytes]`, where a piece is 4 f32 or 8 16-bit values): a decode
 * step then reads each group as one sequential stream instead of 8 interleaved ones, which about
 * doubles the bandwidth the one-token kernels reach from memory (matmul.c, `matmul_*_g8`). The
 * kernels add the same products in the same order as on row-major rows, so results are identical.
 *
 * @module
 */

import type { MatrixSource } from "../types.ts";
import { dtypeBytes } from "../widen.ts";

/** Rows per group. */
export const GROUP_ROWS = 8;

/** Whether a matrix is placed grouped: float, rows in whole groups, rows in whole 16-byte pieces. */
export function groupable(src: MatrixSource): boolean {
  if (src.dtype !== "f32" && src.dtype !== "f16" && src.dtype !== "bf16") return false;
  const rowBytes = src.cols * dtypeBytes(src.dtype);
  return src.rows > 0 && src.rows % GROUP_ROWS === 0 && rowBytes > 0 && rowBytes % 16 === 0;
}

/** Writes `src`'s row-major elements into `dst` (as many bytes) in the grouped order. */
export function groupRows(src: MatrixSource, dst: Uint8Array): void {
  const bytes = src.bytes.byteOffset % 4 === 0 ? src.bytes : src.bytes.slice();
  const from = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const to = new Uint32Array(dst.buffer, dst.byteOffset, dst.byteLength / 4);
  const pieces = (src.cols * dtypeBytes(src.dtype)) / 16;
  for (let g = 0; g < src.rows / GROUP_ROWS; g++) {
    const base = g * GROUP_ROWS * pieces * 4;
    for (let i = 0; i < GROUP_ROWS; i++) {
      for (let c = 0; c < pieces; c++) {
        const s = base + (i * pieces + c) * 4, d = base + (c * GROUP_ROWS + i) * 4;
        to[d] = from[s];
        to[d + 1] = from[s + 1];
        to[d + 2] = from[s + 2];
        to[d + 3] = from[s + 3];
      }
    }
  }
}
