import { rwkv7StateSize } from "./state.ts";
import type { Backend, Matrix, MatrixDType } from "../../kernels/mod.ts";
import { ModelLoadError } from "../errors.ts";
import type { TensorMap } from "../formats/tensor.ts";
import { type Footprint, hostMatrix, type NormParams, tensorBytes, TensorReader } from "../shared/weights.ts";

/** RWKV-7 dimensions, all read from tensor shapes. */
export interface Rwkv7Dims {
  readonly nLayer: number;
  readonly nEmbd: number;
  readonly nHead: number;
  readonly headSize: number;
  readonly vocab: number;
  /** Channel-mix hidden width (4 × n_embd in the official models). */
  readonly ffn: number;
}

/** Time-mix (attention-like) weights of one layer. Matrices are `[out][in]`. */
export interface Rwkv7TimeMix {
  // token-shift mix coefficients, each [C]
  readonly xR: Float32Array;
  readonly xW: Float32Array;
  readonly xK: Float32Array;
  readonly xV: Float32Array;
  readonly xA: Float32Array;
  readonly xG: Float32Array;
  readonly w0: Float32Array; // [C] decay bias
  readonly w1: Matrix; // [D_w][C]
  readonly w2: Matrix; // [C][D_w]
  readonly a0: Float32Array; // [C]
  readonly a1: Matrix; // [D_a][C]
  readonly a2: Matrix; // [C][D_a]
  /** Value-residual mix; absent on layer 0, which produces v_first. */
  readonly v: { readonly v0: Float32Array; readonly v1: Matrix; readonly v2: Matrix } | undefined;
  readonly g1: Matrix; // [D_g][C]
  readonly g2: Matrix; // [C][D_g]
  readonly kK: Float32Array; // [C]
  readonly kA: Float32Array; // [C]
  readonly rK: Float32Array; // [n_head * head_size]
  readonly receptance: Matrix; // [C][C]
  readonly key: Matrix; // [C][C]
  readonly value: Matrix; // [C][C]
  readonly output: Matrix; // [C][C]
  readonly lnX: NormParams; // group norm, n_head groups, eps 64e-5
}

/** One RWKV-7 block. */
export interface Rwkv7Layer {
  readonly ln1: NormParams;
  readonly ln2: NormParams;
  readonly att: Rwkv7TimeMix;
  readonly ffn: { readonly xK: Float32Array; readonly key: Matrix; readonly value: Matrix }; // key [F][C], value [C][F]
}

/** All weights of an RWKV-7 model, placed in a backend. */
export interface Rwkv7Weights {
  readonly dims: Rwkv7Dims;
  readonly dtype: MatrixDType;
  readonly emb: Matrix; // [vocab][C], kept in host memory (rows are looked up, never multiplied)
  readonly ln0: NormParams;
  readonly layers: readonly Rwkv7Layer[];
  readonly lnOut: NormParams;
  readonly head: Matrix; // [vocab][C]
}

/** Whether a checkpoint's tensor names are BlinkDL's RWKV-7 layout. */
export function isRwkv7(tensors: TensorMap): boolean {
  return tensors.has("blocks.0.att.r_k") && tensors.has("blocks.0.att.w0") && tensors.has("emb.weight");
}

/** Reads the dimensions from the shapes of a BlinkDL RWKV-7 checkpoint. */
export function rwkv7Dims(tensors: TensorMap): Rwkv7Dims {
  const t = new TensorReader(tensors, "RWKV-7");
  const emb = t.get("emb.weight");
  if (emb.shape.length !== 2) throw new ModelLoadError(`Tensor "emb.weight" must be 2-D, got [${emb.shape}]`);
  const [vocab, nEmbd] = emb.shape;
  const rK = t.get("blocks.0.att.r_k").shape;
  const nHead = rK.length === 2 ? rK[0] : nEmbd / 64;
  const headSize = nEmbd / nHead;
  if (!Number.isInteger(headSize)) {
    throw new ModelLoadError(
      `Tensor "blocks.0.att.r_k" has shape [${rK}], which does not divide n_embd ${nEmbd}`,
    );
  }
  let nLayer = 0;
  while (t.has(`blocks.${nLayer}.ln1.weight`)) nLayer++;
  const ffn = t.get("blocks.0.ffn.key.weight").shape[0];
  return { nLayer, nEmbd, nHead, headSize, vocab, ffn };
}

/** The sizes a backend needs to hold these weights plus working buffers for `chunk` tokens. */
export function rwkv7Footprint(tensors: TensorMap, chunk: number): Footprint {
  const d = rwkv7Dims(tensors);
  const weightBytes = tensorBytes(tensors);
  const buffers = chunk * (24 * d.nEmbd + d.ffn + 4 * 256) * 4 + d.vocab * 4 * 2;
  return {
    capacity: weightBytes + buffers + (1 << 20),
    maxCols: Math.max(d.nEmbd, d.ffn, 256),
    stateFloats: rwkv7StateSize(d),
    vocab: d.vocab,
  };
}

/** Validates a BlinkDL RWKV-7 checkpoint and places its matrices in `backend`. */
export function loadRwkv7Weights(tensors: TensorMap, backend: Backend): Rwkv7Weights {
  const t = new TensorReader(tensors, "RWKV-7");
  const dims = rwkv7Dims(tensors);
  const C = dims.nEmbd;
  const lora = (name: string) => {
    const shape = t.get(name).shape;
    if (shape.length !== 2 || shape[0] !== C) {
      throw new ModelLoadError(`Tensor "${name}" has shape [${shape}] but [${C}, D] was expected`);
    }
    return shape[1];
  };
  const layers: Rwkv7Layer[] = [];
  for (let i = 0; i < dims.nLayer; i++) {
    const p = `blocks.${i}.att.`;
    const m = (name: string, rows: number, cols: number) => backend.matrix(t.matrix(p + name, rows, cols));
    const down = (name: string) => backend.matrix(t.transposed(p + name, C, lora(p + name)));
    const up = (name: string, d: number) => backend.matrix(t.transposed(p + name, d, C));
    const dW = lora(p + "w1"), dA = lora(p + "a1"), dG = lora(p + "g1");
    const hasV = i > 0;
    if (hasV && !t.has(p + "v0")) throw new ModelLoadError(`RWKV-7 checkpoint is missing tensor "${p}v0"`);
    const att: Rwkv7TimeMix = {
      xR: t.vector(p + "x_r", C),
      xW: t.vector(p + "x_w", C),
      xK: t.vector(p + "x_k", C),
      xV: t.vector(p + "x_v", C),
      xA: t.vector(p + "x_a", C),
      xG: t.vector(p + "x_g", C),
      w0: t.vector(p + "w0", C),
      w1: down("w1"),
      w2: up("w2", dW),
      a0: t.vector(p + "a0", C),
      a1: down("a1"),
      a2: up("a2", dA),
      v: hasV ? { v0: t.vector(p + "v0", C), v1: down("v1"), v2: up("v2", lora(p + "v1")) } : undefined,
      g1: down("g1"),
      g2: up("g2", dG),
      kK: t.vector(p + "k_k", C),
      kA: t.vector(p + "k_a", C),
      rK: t.vector(p + "r_k", C),
      receptance: m("receptance.weight", C, C),
      key: m("key.weight", C, C),
      value: m("value.weight", C, C),
      output: m("output.weight", C, C),
      lnX: t.norm(p + "ln_x", C, 64e-5),
    };
    const f = `blocks.${i}.ffn.`;
    layers.push({
      ln1: t.norm(`blocks.${i}.ln1`, C, 1e-5),
      ln2: t.norm(`blocks.${i}.ln2`, C, 1e-5),
      att,
      ffn: {
        xK: t.vector(f + "x_k", C),
        key: backend.matrix(t.matrix(f + "key.weight", dims.ffn, C)),
        value: backend.matrix(t.matrix(f + "value.weight", C, dims.ffn)),
      },
    });
  }
  const emb = t.matrix("emb.weight", dims.vocab, C);
  return {
    dims,
    dtype: emb.dtype,
    emb: hostMatrix(emb),
    ln0: t.norm("blocks.0.ln0", C, 1e-5),
    layers,
    lnOut: t.norm("ln_out", C, 1e-5),
    head: backend.matrix(t.matrix("head.weight", dims.vocab, C)),
  };
}
