import type { WeightDType } from "../kernels/mod.ts";
import type { RawTensor, TensorMap } from "../models/mod.ts";
import { mulberry32 } from "../engine/mod.ts";

/** An RWKV-7 shape: the 0.1B model is 12 layers × 768, heads of 64, vocab 65536. */
export interface Rwkv7Shape {
  nLayer: number;
  nEmbd: number;
  headSize: number;
  vocab: number;
}

/** The official RWKV-7 0.1B shape. */
export const RWKV7_0_1B: Rwkv7Shape = { nLayer: 12, nEmbd: 768, headSize: 64, vocab: 65536 };

/** The official RWKV-7 1.5B shape: 24 layers × 2048. */
export const RWKV7_1_5B: Rwkv7Shape = { nLayer: 24, nEmbd: 2048, headSize: 64, vocab: 65536 };

function loraDim(c: number, factor: number): number {
  return Math.max(32, Math.round((factor * Math.sqrt(c)) / 32) * 32);
}

/**
 * Random weights of a given RWKV-7 shape in BlinkDL's layout (values small enough to keep
 * activations finite; speed does not depend on them). `sizesOnly`: tensors with shapes and byte
 * lengths but no data (bench/fit.ts plans memory from them).
 */
export function randomRwkv7(shape: Rwkv7Shape, dtype: WeightDType, seed = 1, sizesOnly = false): TensorMap {
  const rand = mulberry32(seed);
  const C = shape.nEmbd, H = C / shape.headSize;
  const tensors = new Map<string, RawTensor>();
  const add = (name: string, dims: number[], scale = 0.02, offset = 0) => {
    const n = dims.reduce((a, b) => a * b, 1);
    if (sizesOnly) {
      // Only sizes are read (memory planning): a stand-in that knows its length and holds nothing.
      const bytes = { byteLength: n * (dtype === "f32" ? 4 : 2) } as Uint8Array;
      tensors.set(name, { name, dtype, shape: dims, bytes });
      return;
    }
    const f32 = new Float32Array(n);
    for (let i = 0; i < n; i++) f32[i] = offset + (rand() * 2 - 1) * scale;
    let bytes: Uint8Array;
    if (dtype === "f32") bytes = new Uint8Array(f32.buffer);
    else {
      const bits = new Uint16Array(n);
      const u32 = new Uint32Array(f32.buffer);
      for (let i = 0; i < n; i++) bits[i] = dtype === "bf16" ? u32[i] >>> 16 : toHalf(f32[i]);
      bytes = new Uint8Array(bits.buffer);
    }
    tensors.set(name, { name, dtype, shape: dims, bytes });
  };
  add("emb.weight", [shape.vocab, C]);
  add("blocks.0.ln0.weight", [C], 0.1, 1);
  add("blocks.0.ln0.bias", [C]);
  const [dW, dA, dV, dG] = [loraDim(C, 2.5), loraDim(C, 2.5), loraDim(C, 1.7), loraDim(C, 5)];
  for (let i = 0; i < shape.nLayer; i++) {
    const p = `blocks.${i}.`;
    for (const ln of ["ln1", "ln2"]) {
      add(`${p}${ln}.weight`, [C], 0.1, 1);
      add(`${p}${ln}.bias`, [C]);
    }
    for (const x of ["x_r", "x_w", "x_k", "x_v", "x_a", "x_g"]) add(`${p}att.${x}`, [1, 1, C], 0.5, 0.5);
    add(`${p}att.w0`, [1, 1, C], 1, -1);
    add(`${p}att.w1`, [C, dW]);
    add(`${p}att.w2`, [dW, C]);
    add(`${p}att.a0`, [1, 1, C]);
    add(`${p}att.a1`, [C, dA]);
    add(`${p}att.a2`, [dA, C]);
    if (i > 0) {
      add(`${p}att.v0`, [1, 1, C]);
      add(`${p}att.v1`, [C, dV]);
      add(`${p}att.v2`, [dV, C]);
    }
    add(`${p}att.g1`, [C, dG]);
    add(`${p}att.g2`, [dG, C]);
    add(`${p}att.k_k`, [1, 1, C], 0.1, 0.7);
    add(`${p}att.k_a`, [1, 1, C], 0.1, 1);
    add(`${p}att.r_k`, [H, shape.headSize]);
    for (const m of ["receptance", "key", "value", "output"]) add(`${p}att.${m}.weight`, [C, C]);
    add(`${p}att.ln_x.weight`, [C], 0.1, 1);
    add(`${p}att.ln_x.bias`, [C]);
    add(`${p}ffn.x_k`, [1, 1, C], 0.5, 0.5);
    add(`${p}ffn.key.weight`, [4 * C, C]);
    add(`${p}ffn.value.weight`, [C, 4 * C]);
  }
  add("ln_out.weight", [C], 0.1, 1);
  add("ln_out.bias", [C]);
  add("head.weight", [shape.vocab, C]);
  return tensors;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** f32 → IEEE half bits, round to nearest (normals and zero; enough for small random weights). */
/** The f16 bit pattern nearest `x` (round half up; subnormals flush to zero). */
export function toHalf(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = ((bits >>> 23) & 0xff) - 127 + 15;
  if (exp <= 0) return sign;
  if (exp >= 31) return sign | 0x7c00;
  return sign | ((exp << 10) + ((bits >>> 13) & 0x3ff) + ((bits >>> 12) & 1));
}
