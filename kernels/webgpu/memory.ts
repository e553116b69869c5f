/**
 * How tensors and weights sit in GPU memory. A tensor is one storage buffer of `rows * cols`
 * f32 or i32 values. A weight matrix is a storage buffer of its rows (or several: kernels/webgpu/bands.ts): f32 rows of `cols`
 * floats, or 16-bit rows packed two to a u32 word (element 2k in the low half), each row padded
 * to a whole word, so shaders widen bf16 and f16 themselves and need no `shader-f16`; q8 and q4
 * matrices are their packed words, then their scales (kernels/webgpu/quant.ts).
 *
 * @module
 */

import { isQuantized } from "../quant.ts";
import type { Matrix, MatrixDType, WeightDType } from "../types.ts";
import { packQuantized } from "./quant.ts";

/** Usage of tensor buffers: bound as storage, written from the host, copied out for reads. */
export function tensorUsage(): number {
  return GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
}

/** Elements (f32) or words (16-bit pairs) per stored row of a `cols`-wide matrix. */
export function rowStride(cols: number, dtype: WeightDType): number {
  return dtype === "f32" ? cols : Math.ceil(cols / 2);
}

/**
 * A matrix's elements laid out as the GPU keeps them (16-bit rows padded to whole words; q8/q4 as
 * they come, packed weights then scales).
 */
export function packMatrix(
  m: { rows: number; cols: number; dtype: MatrixDType; bytes: Uint8Array },
): Uint8Array {
  const { rows, cols, dtype, bytes } = m;
  if (isQuantized(dtype)) return packQuantized({ rows, cols, dtype, bytes });
  const size = dtype === "f32" ? 4 : 2;
  if (bytes.byteLength !== rows * cols * size) {
    throw new RangeError(
      `A [${rows}][${cols}] ${dtype} matrix needs ${rows * cols * size} bytes, got ${bytes.byteLength}`,
    );
  }
  const stride = rowStride(cols, dtype) * 4;
  if (dtype === "f32" || cols % 2 === 0) {
    const out = new Uint8Array(Math.max(4, Math.ceil(bytes.byteLength / 4) * 4));
    out.set(bytes);
    return out;
  }
  const out = new Uint8Array(Math.max(4, rows * stride));
  for (let r = 0; r < rows; r++) out.set(bytes.subarray(r * cols * 2, (r + 1) * cols * 2), r * stride);
  return out;
}

/** The bytes of a host matrix (as the CPU backends keep it; q8/q4: packed weights, then scales), for upload. */
export function hostBytes(m: Matrix): Uint8Array {
  if (!m.data) throw new TypeError("A matrix without host data or a WebGPU handle cannot be uploaded");
  const data = new Uint8Array(m.data.buffer, m.data.byteOffset, m.data.byteLength);
  if (!isQuantized(m.dtype)) return data;
  if (!m.scales) throw new TypeError(`A host ${m.dtype} matrix without scales cannot be uploaded`);
  const out = new Uint8Array(data.byteLength + m.scales.byteLength);
  out.set(data);
  out.set(new Uint8Array(m.scales.buffer, m.scales.byteOffset, m.scales.byteLength), data.byteLength);
  return out;
}
