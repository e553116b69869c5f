import type { Matrix, MatrixDType } from "./types.ts";
import { dequantizeRow } from "./quant.ts";

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** A bf16 bit pattern as the f32 it denotes (exact). */
export function bf16ToF32(bits: number): number {
  u32Scratch[0] = bits << 16;
  return f32Scratch[0];
}

/** An IEEE half bit pattern as the f32 it denotes (exact, including subnormals, inf and NaN). */
export function f16ToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** A matrix's elements in host memory; a TypeError for a matrix that lives on a GPU. */
export function hostData(m: Matrix): Float32Array | Uint16Array | Int8Array | Uint8Array {
  if (!m.data) {
    throw new TypeError("This matrix lives in GPU memory: run it on the backend that made it");
  }
  return m.data;
}

/** Widens row `r` of a matrix into `out` as f32 (quantized rows dequantized). */
export function widenTo(m: Matrix, r: number, out: Float32Array): void {
  if (m.dtype === "q8" || m.dtype === "q4") {
    dequantizeRow(m.dtype, hostData(m) as Int8Array | Uint8Array, m.scales!, m.cols, r, out);
    return;
  }
  const o = r * m.cols;
  const data = hostData(m);
  if (m.dtype === "f32") {
    out.set((data as Float32Array).subarray(o, o + m.cols));
    return;
  }
  const src = data as Uint16Array;
  const convert = m.dtype === "bf16" ? bf16ToF32 : f16ToF32;
  for (let c = 0; c < m.cols; c++) out[c] = convert(src[o + c]);
}

/** Little-endian element bytes of a float weight dtype, widened to a new f32 array. */
export function bytesToF32(bytes: Uint8Array, dtype: MatrixDType): Float32Array {
  if (dtype === "q8" || dtype === "q4") throw new TypeError(`${dtype} bytes are blocks, not elements`);
  if (dtype === "f32") {
    return new Float32Array(bytes.slice().buffer, 0, bytes.byteLength / 4);
  }
  const bits = new Uint16Array(bytes.slice().buffer, 0, bytes.byteLength / 2);
  const out = new Float32Array(bits.length);
  const convert = dtype === "bf16" ? bf16ToF32 : f16ToF32;
  for (let i = 0; i < bits.length; i++) out[i] = convert(bits[i]);
  return out;
}

/** Bytes per element of a float weight dtype (q8: 1 and q4: ½ before their scales). */
export function dtypeBytes(dtype: MatrixDType): number {
  return dtype === "f32" ? 4 : dtype === "q8" ? 1 : dtype === "q4" ? 0.5 : 2;
}
