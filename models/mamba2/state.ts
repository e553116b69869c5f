import type { RecurrentState, StatePart } from "../types.ts";
import type { Mamba2Dims } from "./weights.ts";

/** The parts of a Mamba-2 state, in order. */
export function mamba2StateParts(m: Mamba2Dims): StatePart[] {
  return [
    { name: "conv", shape: [m.nLayer, m.convDim, m.k] },
    { name: "ssm", shape: [m.nLayer, m.heads, m.headDim, m.n] },
  ];
}

/** Floats in a Mamba-2 state. */
export function mamba2StateSize(m: Mamba2Dims): number {
  return m.nLayer * (m.convDim * m.k + m.heads * m.headDim * m.n);
}

/** A Mamba-2 state: views into one flat f32 array. */
export class Mamba2State implements RecurrentState {
  /** [n_layer][conv_dim][conv_kernel]: the last conv_kernel inputs (x, B, C channels), oldest first. */
  readonly conv: Float32Array;
  /** [n_layer][heads][head_dim][state_size]: the SSM state of every head. */
  readonly ssm: Float32Array;
  readonly data: Float32Array;

  /** Wraps `data` (zeros when omitted) laid out for `dims`. */
  constructor(readonly dims: Mamba2Dims, data?: Float32Array) {
    this.data = data ?? new Float32Array(mamba2StateSize(dims));
    if (this.data.length !== mamba2StateSize(dims)) {
      throw new RangeError(`Mamba-2 state needs ${mamba2StateSize(dims)} floats, got ${this.data.length}`);
    }
    const c = dims.nLayer * dims.convDim * dims.k;
    this.conv = this.data.subarray(0, c);
    this.ssm = this.data.subarray(c);
  }
}
