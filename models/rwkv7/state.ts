import type { RecurrentState, StatePart } from "../types.ts";
import type { Rwkv7Dims } from "./weights.ts";

/** The parts of an RWKV-7 state, in the order they sit in its flat array. */
export function rwkv7StateParts(d: Rwkv7Dims): StatePart[] {
  return [
    { name: "att_x", shape: [d.nLayer, d.nEmbd] },
    { name: "wkv", shape: [d.nLayer, d.nHead, d.headSize, d.headSize] },
    { name: "ffn_x", shape: [d.nLayer, d.nEmbd] },
  ];
}

/** An RWKV-7 state: views into one flat f32 array. */
export class Rwkv7State implements RecurrentState {
  /** [n_layer][n_embd] f32: the time-mix input (after ln1) of the previous token. */
  readonly attX: Float32Array;
  /** [n_layer][n_head][head_size (value i)][head_size (key j)] f32: the WKV matrix state. */
  readonly wkv: Float32Array;
  /** [n_layer][n_embd] f32: the channel-mix input (after ln2) of the previous token. */
  readonly ffnX: Float32Array;

  /** Wraps `data` (zeros when omitted) laid out for `dims`. */
  constructor(
    readonly dims: Rwkv7Dims,
    readonly data: Float32Array = new Float32Array(rwkv7StateSize(dims)),
  ) {
    if (data.length !== rwkv7StateSize(dims)) {
      throw new RangeError(`RWKV-7 state needs ${rwkv7StateSize(dims)} floats, got ${data.length}`);
    }
    const x = dims.nLayer * dims.nEmbd;
    const s = dims.nLayer * dims.nHead * dims.headSize * dims.headSize;
    this.attX = data.subarray(0, x);
    this.wkv = data.subarray(x, x + s);
    this.ffnX = data.subarray(x + s, x + s + x);
  }
}

/** Floats in an RWKV-7 state. */
export function rwkv7StateSize(d: Rwkv7Dims): number {
  return d.nLayer * (2 * d.nEmbd + d.nHead * d.headSize * d.headSize);
}
