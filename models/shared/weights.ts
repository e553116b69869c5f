import { bytesToF32, isQuantized, type Matrix, type MatrixSource, viewMatrix } from "../../kernels/mod.ts";
import { ModelLoadError } from "../errors.ts";
import { numel, type RawTensor, type TensorMap } from "../formats/tensor.ts";

/** Total bytes of a checkpoint's tensors. */
export function tensorBytes(tensors: TensorMap): number {
  let total = 0;
  for (const t of tensors.values()) total += t.bytes.byteLength;
  return total;
}

/**
 * A matrix left in host memory (embeddings: rows are looked up, never multiplied), float or q8/q4,
 * without a copy when aligned.
 */
export function hostMatrix(src: MatrixSource): Matrix {
  return viewMatrix(src, src.bytes.byteOffset % 4 === 0 ? src.bytes : src.bytes.slice());
}

/** Affine parameters of a layer or group norm. */
export interface NormParams {
  readonly w: Float32Array;
  readonly b: Float32Array;
  readonly eps: number;
}

/** A matrix as a checkpoint holds it: floats, or a quantized checkpoint's q8/q4 blocks. */
export type CheckpointMatrix = MatrixSource;

/** Looks tensors up by name and checks their shapes, naming the tensor in every error. */
export class TensorReader {
  /** Wraps the tensors of one checkpoint; `family` names it in errors. */
  constructor(readonly tensors: TensorMap, readonly family: string) {}

  /** Whether a tensor is present. */
  has(name: string): boolean {
    return this.tensors.has(name);
  }

  /** The tensor, or a ModelLoadError saying it is missing. */
  get(name: string): RawTensor {
    const t = this.tensors.get(name);
    if (!t) throw new ModelLoadError(`${this.family} checkpoint is missing tensor "${name}"`);
    return t;
  }

  /** A tensor of exactly `n` elements (any shape, e.g. `[1, 1, n]`), widened to f32. */
  vector(name: string, n: number): Float32Array {
    const t = this.get(name);
    if (numel(t.shape) !== n) {
      throw new ModelLoadError(`Tensor "${name}" has shape [${t.shape}] but ${n} elements were expected`);
    }
    return bytesToF32(t.bytes, t.dtype);
  }

  /** The norm `prefix.weight` / `prefix.bias` of width n. */
  norm(prefix: string, n: number, eps: number): NormParams {
    return { w: this.vector(`${prefix}.weight`, n), b: this.vector(`${prefix}.bias`, n), eps };
  }

  /** A 2-D tensor of shape `[rows, cols]` as matrix source. */
  matrix(name: string, rows: number, cols: number): CheckpointMatrix {
    const t = this.get(name);
    if (t.shape.length !== 2 || t.shape[0] !== rows || t.shape[1] !== cols) {
      throw new ModelLoadError(`Tensor "${name}" has shape [${t.shape}] but [${rows}, ${cols}] was expected`);
    }
    return { name, rows, cols, dtype: t.dtype, bytes: t.bytes };
  }

  /** A 2-D tensor stored as `[rows, cols]`, returned transposed as a `[cols][rows]` matrix source. */
  transposed(name: string, rows: number, cols: number): CheckpointMatrix {
    const src = this.matrix(name, rows, cols);
    if (isQuantized(src.dtype)) {
      throw new ModelLoadError(`Tensor "${name}" is stored quantized, but the model needs it transposed`);
    }
    const size = src.dtype === "f32" ? 4 : 2;
    const out = new Uint8Array(src.bytes.byteLength);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const from = (r * cols + c) * size;
        const to = (c * rows + r) * size;
        for (let b = 0; b < size; b++) out[to + b] = src.bytes[from + b];
      }
    }
    return { name, rows: cols, cols: rows, dtype: src.dtype, bytes: out };
  }
}

/** What a backend must hold for a model: weights and working buffers, and what sizes its state arena. */
export interface Footprint {
  /** Bytes of weights and working buffers for one chunk. */
  readonly capacity: number;
  /** The widest matrix, in columns. */
  readonly maxCols: number;
  /** Floats in one session's state. */
  readonly stateFloats: number;
  /** Logits per token. */
  readonly vocab: number;
}

/**
 * Bytes the vectors of a checkpoint take as f32 constants in backend memory (norm weights, biases,
 * mixing coefficients, conv kernels): every tensor that is not a plain 2-D matrix.
 */
export function constantBytes(tensors: TensorMap): number {
  let floats = 0;
  for (const t of tensors.values()) {
    const big = t.shape.filter((s) => s > 1).length;
    if (big <= 1 || t.shape.length !== 2) floats += t.shape.reduce((a, b) => a * b, 1);
  }
  return floats * 4;
}
