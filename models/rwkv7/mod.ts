/**
 * RWKV-7 ("x070", Goose): BlinkDL's checkpoint layout, the recurrent step and a
 * chunked prefill on any kernel backend. Does not tokenize or sample.
 *
 * @module
 */

export { rwkv7Graph, rwkv7Model } from "./graph.ts";
export { Rwkv7State, rwkv7StateParts, rwkv7StateSize } from "./state.ts";
export { isRwkv7, loadRwkv7Weights, rwkv7Dims, rwkv7Footprint, type Rwkv7Weights } from "./weights.ts";
