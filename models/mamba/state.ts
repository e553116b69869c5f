import type { RecurrentState, StatePart } from "../types.ts";
import type { MambaDims } from "./weights.ts";

/** The parts of a Mamba state, in order. */
export function mambaStateParts(m: MambaDims): StatePart[] {
  return [
    { name: "conv", shape: [m.nLayer, m.inner, m.k] },
    { name: "ssm", shape: [m.nLayer, m.inner, m.n] },
  ];
}

/** Floats in a Mamba state. */
export function mambaStateSize(m: MambaDims): number {
  return m.nLayer * m.inner * (m.k + m.n);
}

/** A Mamba state: views into one flat f32 array. */
export class MambaState implements RecurrentState {
  /** [n_layer][inner][conv_kernel]: the last conv_kernel inputs of the causal conv, oldest first. */
  readonly conv: Float32Array;
  /** [n_layer][inner][state_size]: the selective SSM state. */
  readonly ssm: Float32Array;
  readonly data: Float32Array;

  /** Wraps `data` (zeros when omitted) laid out for `dims`. */
  constructor(readonly dims: MambaDims, data?: Float32Array) {
    this.data = data ?? new Float32Array(mambaStateSize(dims));
    if (this.data.length !== mambaStateSize(dims)) {
      throw new RangeError(`Mamba state needs ${mambaStateSize(dims)} floats, got ${this.data.length}`);
    }
    const c = dims.nLayer * dims.inner * dims.k;
    this.conv = this.data.subarray(0, c);
    this.ssm = this.data.subarray(c);
  }
}
