import type { RecurrentState, StatePart } from "../types.ts";
import type { Rwkv4Dims } from "./weights.ts";

/** The parts of an RWKV-4 state, in order (HF's order: ffn_x, att_x, num, den, max). */
export function rwkv4StateParts(d: Rwkv4Dims): StatePart[] {
  return [
    { name: "ffn_x", shape: [d.nLayer, d.nEmbd] },
    { name: "att_x", shape: [d.nLayer, d.nEmbd] },
    { name: "num", shape: [d.nLayer, d.att] },
    { name: "den", shape: [d.nLayer, d.att] },
    { name: "max", shape: [d.nLayer, d.att] },
  ];
}

/** Floats in an RWKV-4 state. */
export function rwkv4StateSize(d: Rwkv4Dims): number {
  return d.nLayer * (2 * d.nEmbd + 3 * d.att);
}

/** An RWKV-4 state: five per-layer vectors, views into one flat f32 array. */
export class Rwkv4State implements RecurrentState {
  /** [n_layer][n_embd]: the channel-mix input (after ln2) of the previous token. */
  readonly ffnX: Float32Array;
  /** [n_layer][n_embd]: the time-mix input (after ln1) of the previous token. */
  readonly attX: Float32Array;
  /** [n_layer][att]: WKV numerator, scaled by exp(-max). */
  readonly num: Float32Array;
  /** [n_layer][att]: WKV denominator, scaled by exp(-max). */
  readonly den: Float32Array;
  /** [n_layer][att]: the running exponent that keeps num and den in range (starts at -1e30). */
  readonly max: Float32Array;

  readonly data: Float32Array;

  /** Wraps `data` (a fresh state when omitted) laid out for `dims`. */
  constructor(readonly dims: Rwkv4Dims, data?: Float32Array) {
    const x = dims.nLayer * dims.nEmbd, a = dims.nLayer * dims.att;
    if (!data) {
      data = new Float32Array(rwkv4StateSize(dims));
      data.fill(-1e30, 2 * x + 2 * a);
    }
    if (data.length !== rwkv4StateSize(dims)) {
      throw new RangeError(`RWKV-4 state needs ${rwkv4StateSize(dims)} floats, got ${data.length}`);
    }
    this.data = data;
    this.ffnX = data.subarray(0, x);
    this.attX = data.subarray(x, 2 * x);
    this.num = data.subarray(2 * x, 2 * x + a);
    this.den = data.subarray(2 * x + a, 2 * x + 2 * a);
    this.max = data.subarray(2 * x + 2 * a);
  }
}
