import type { RecurrentState, StatePart } from "../types.ts";
import type { RetNetDims } from "./weights.ts";

/** The parts of a RetNet state, in order. */
export function retnetStateParts(m: RetNetDims): StatePart[] {
  return [
    { name: "kv", shape: [m.nLayer, m.heads, m.headDim, m.keyDim] },
    { name: "scale", shape: [m.nLayer, m.heads] },
    { name: "pos", shape: [1] },
  ];
}

/** Floats in a RetNet state. */
export function retnetStateSize(m: RetNetDims): number {
  return m.nLayer * m.heads * (m.headDim * m.keyDim + 1) + 1;
}

/** A RetNet state: the retention recurrence of every layer and head, views into one flat f32 array. */
export class RetNetState implements RecurrentState {
  /** [n_layer][heads][head_dim (value)][key_dim]: Σ decayed v ⊗ k, kept normalized by √scale. */
  readonly kv: Float32Array;
  /** [n_layer][heads]: Σ γ^i, the normalizer the reference divides kv by (√ of it); 0 before any token. */
  readonly scale: Float32Array;
  /** [1]: the position of the next token (it sets the rotation of q and k). */
  readonly pos: Float32Array;
  readonly data: Float32Array;

  /** Wraps `data` (zeros when omitted) laid out for `dims`. */
  constructor(readonly dims: RetNetDims, data?: Float32Array) {
    this.data = data ?? new Float32Array(retnetStateSize(dims));
    if (this.data.length !== retnetStateSize(dims)) {
      throw new RangeError(`RetNet state needs ${retnetStateSize(dims)} floats, got ${this.data.length}`);
    }
    const kv = dims.nLayer * dims.heads * dims.headDim * dims.keyDim;
    const s = dims.nLayer * dims.heads;
    this.kv = this.data.subarray(0, kv);
    this.scale = this.data.subarray(kv, kv + s);
    this.pos = this.data.subarray(kv + s, kv + s + 1);
  }
}
