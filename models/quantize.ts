/**
 * Quantizing a model's weights as it loads (`--weights int8|q4`): every matrix the model multiplies
 * goes to the backend in the chosen format (kernels/quant.ts), except those kept in the checkpoint's
 * precision. The embedding is quantized too ({@linkcode withQuantizedEmbedding}): it stays in host
 * memory, and its rows are dequantized as tokens are looked up.
 *
 * @module
 */

import {
  type Backend,
  isQuantized,
  type MatrixSource,
  type QuantFormat,
  quantizable,
  quantizedBytes,
  quantizeMatrix,
} from "../kernels/mod.ts";
import type { RawTensor, TensorMap } from "./formats/tensor.ts";

/** What `--weights` may name: int8 (q8) or 4-bit (q4). */
export const WEIGHT_FORMATS: Readonly<Record<string, QuantFormat>> = { int8: "q8", q8: "q8", q4: "q4" };

/**
 * Tensors kept in the checkpoint's precision in every format: Mamba's x_proj (Δ, B and C) and
 * dt_proj (Δ's projection), whose errors pass through exp(Δ·A) into every later state (llama.cpp
 * keeps them too).
 */
const KEPT = [/(^|\.)x_proj\.weight$/, /(^|\.)dt_proj\.weight$/];

/** Whether the matrix `name` stays in its checkpoint precision. */
export function keepsPrecision(name: string | undefined): boolean {
  return name !== undefined && KEPT.some((re) => re.test(name));
}

/** Whether a float matrix source goes to the backend quantized. */
export function quantizes(src: MatrixSource): boolean {
  return !isQuantized(src.dtype) && quantizable(src.cols) && !keepsPrecision(src.name);
}

/** Weights placed through a {@linkcode quantizingBackend}: how many, and how many of them quantized. */
export interface QuantizedCount {
  weights: number;
  quantized: number;
}

/**
 * `backend`, but matrices placed through it are quantized into `format` (where {@linkcode quantizes});
 * `count` adds up what was placed.
 */
export function quantizingBackend(backend: Backend, format: QuantFormat, count?: QuantizedCount): Backend {
  const placing: Backend = Object.create(backend);
  Object.defineProperty(placing, "matrix", {
    value: (src: MatrixSource) => {
      const yes = quantizes(src);
      if (count) {
        count.weights += src.rows * src.cols;
        if (yes || isQuantized(src.dtype)) count.quantized += src.rows * src.cols;
      }
      return backend.matrix(yes ? quantizeMatrix(src, format) : src);
    },
  });
  return placing;
}

/**
 * Bytes fewer than the checkpoint's that the matrices take quantized (in a file: packed weights and
 * scales), and how many blocks of 32 the backend will hold quantized, stored so or quantized as they
 * load (the WASM backend keeps 4 more bytes per block beside them). Counted on 2-D tensors whose sides
 * are both whole blocks (a matrix may be placed transposed), so a backend is never sized below what it
 * will hold; `except` names a tensor that is not placed (an untied embedding).
 */
export function quantizedSavings(
  tensors: TensorMap,
  format: QuantFormat,
  except?: string,
): { saved: number; blocks: number } {
  let saved = 0, blocks = 0;
  for (const [name, t] of tensors) {
    if (name === except) continue;
    const [rows, cols] = t.shape;
    if (isQuantized(t.dtype)) {
      blocks += rows * cols / 32;
    } else if (quantizesTensor(name, t)) {
      saved += t.bytes.byteLength - quantizedBytes(format, rows, cols);
      blocks += rows * cols / 32;
    }
  }
  return { saved: Math.max(0, saved), blocks };
}

/**
 * `tensors` with the embedding `name` quantized into `format`, as `--weights` loads it: its rows are
 * widened one at a time as tokens are looked up, so it costs q8's or q4's bytes in memory instead of
 * the checkpoint's. Unchanged when the embedding is stored quantized already, or its rows are not
 * whole blocks.
 */
export function withQuantizedEmbedding(tensors: TensorMap, name: string, format: QuantFormat): TensorMap {
  const t = tensors.get(name);
  if (!t || !quantizesEmbedding(t)) return tensors;
  const [rows, cols] = t.shape;
  const q = quantizeMatrix({ name, rows, cols, dtype: t.dtype, bytes: t.bytes }, format);
  return new Map(tensors).set(name, { name, dtype: format, shape: [rows, cols], bytes: q.bytes });
}

/** Whether an embedding table is quantized by `--weights`: a float matrix whose rows are whole blocks. */
export function quantizesEmbedding(t: RawTensor): boolean {
  return !isQuantized(t.dtype) && t.shape.length === 2 && quantizable(t.shape[1]);
}

/**
 * Whether a checkpoint tensor is a matrix that quantizing covers, whichever way it is placed: 2-D,
 * both sides whole blocks, float, and not kept in full precision.
 */
export function quantizesTensor(name: string, t: RawTensor): boolean {
  return !isQuantized(t.dtype) && t.shape.length === 2 && quantizable(t.shape[0]) &&
    quantizable(t.shape[1]) &&
    !keepsPrecision(name);
}
