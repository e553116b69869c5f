/**
 * RWKV-4 in HF transformers' format (`RwkvForCausalLM`: config.json + safetensors,
 * `rescale_every` included): the recurrent step and a chunked prefill on any kernel
 * backend. Does not tokenize or sample.
 *
 * @module
 */

export { rwkv4Graph, rwkv4Model } from "./graph.ts";
export { Rwkv4State, rwkv4StateParts, rwkv4StateSize } from "./state.ts";
export { isRwkv4, loadRwkv4Weights, rwkv4Dims, rwkv4Footprint, type Rwkv4Weights } from "./weights.ts";
