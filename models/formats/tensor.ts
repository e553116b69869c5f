import type { MatrixDType } from "../../kernels/mod.ts";

/** One tensor as read from a weight file: raw little-endian elements and their shape. */
export interface RawTensor {
  /** The tensor's name in the checkpoint. */
  readonly name: string;
  /** Element type on disk, or the quantized format of a matrix our quantizer wrote (kernels/quant.ts). */
  readonly dtype: MatrixDType;
  /** Dimensions, outermost first. */
  readonly shape: readonly number[];
  /**
   * `product(shape) * bytesPerElement` bytes (a view into the file; do not mutate); for a quantized
   * matrix, its packed weights then its scales, and `shape` is the matrix's `[rows, cols]`.
   */
  readonly bytes: Uint8Array;
}

/** The tensors of a checkpoint, by name. */
export type TensorMap = ReadonlyMap<string, RawTensor>;

/** The number of elements a shape holds. */
export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
