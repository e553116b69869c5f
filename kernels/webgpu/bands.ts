/**
 * A weight matrix in GPU memory as row bands: one storage buffer when the matrix fits one binding
 * (the adapter's `maxStorageBufferBindingSize`, 128 MiB on lavapipe and some phones), else as many
 * buffers of whole rows as it takes, each laid out as a matrix of its own (kernels/webgpu/memory.ts,
 * kernels/webgpu/quant.ts). Plans run one dispatch per band, each writing its rows of the output.
 *
 * @module
 */

import { isQuantized, packedBytes, QUANT_BLOCK } from "../quant.ts";
import type { MatrixDType } from "../types.ts";
import { packMatrix, rowStride } from "./memory.ts";

/** Rows `row0 .. row0 + rows` of a matrix, in one buffer. */
export interface Band {
  readonly buffer: GPUBuffer;
  readonly row0: number;
  readonly rows: number;
}

/** A matrix's bands, in row order (the handle of a WebGPU matrix). */
export class GpuMatrix {
  constructor(readonly bands: readonly Band[]) {}
}

/** Bytes one row takes in GPU memory (16-bit rows padded to a word; q8/q4 with their scales). */
export function gpuRowBytes(cols: number, dtype: MatrixDType): number {
  if (isQuantized(dtype)) return packedBytes(dtype, 1, cols) + (cols / QUANT_BLOCK) * 4;
  return rowStride(cols, dtype) * 4;
}

/**
 * Places a matrix's elements (a source's bytes: row-major elements, or q8/q4 packed rows then
 * scales) in bands of at most `limit` bytes.
 */
export function placeMatrix(
  device: GPUDevice,
  m: { rows: number; cols: number; dtype: MatrixDType; bytes: Uint8Array },
  options: { limit: number; label: string },
): GpuMatrix {
  const { rows, cols, dtype } = m;
  const per = Math.floor(options.limit / gpuRowBytes(cols, dtype));
  if (per < 1 && rows > 0) {
    throw new RangeError(`${options.label}: one row takes more than this GPU binds: use the wasm backend`);
  }
  const bands: Band[] = [];
  for (let row0 = 0; row0 < Math.max(rows, 1); row0 += per) {
    const n = Math.min(per, rows - row0);
    const bytes = packMatrix({ rows: n, cols, dtype, bytes: bandBytes(m, row0, n) }); // checks the size
    const label = n === rows ? options.label : `${options.label} rows ${row0}..${row0 + n}`;
    bands.push({ buffer: upload(device, bytes, label), row0, rows: n });
  }
  return new GpuMatrix(bands);
}

// The source bytes of rows row0 .. row0 + n, as a matrix of their own.
function bandBytes(
  m: { rows: number; cols: number; dtype: MatrixDType; bytes: Uint8Array },
  row0: number,
  n: number,
): Uint8Array {
  const { rows, cols, dtype, bytes } = m;
  if (row0 === 0 && n === rows) return bytes;
  if (!isQuantized(dtype)) {
    const size = dtype === "f32" ? 4 : 2;
    return bytes.subarray(row0 * cols * size, (row0 + n) * cols * size);
  }
  const packed = packedBytes(dtype, 1, cols), scales = (cols / QUANT_BLOCK) * 4;
  const out = new Uint8Array(n * (packed + scales));
  out.set(bytes.subarray(row0 * packed, (row0 + n) * packed));
  const at = rows * packed;
  out.set(bytes.subarray(at + row0 * scales, at + (row0 + n) * scales), n * packed);
  return out;
}

function upload(device: GPUDevice, packed: Uint8Array, label: string): GPUBuffer {
  const buffer = device.createBuffer({
    label,
    size: packed.byteLength,
    usage: GPUBufferUsage.STORAGE,
    mappedAtCreation: true,
  });
  new Uint8Array(buffer.getMappedRange()).set(packed);
  buffer.unmap();
  return buffer;
}
