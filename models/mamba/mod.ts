/**
 * Mamba (selective state spaces) in HF transformers' format (`MambaForCausalLM`:
 * config.json + safetensors, tied embeddings): the recurrent step and a chunked
 * prefill on any kernel backend. Does not tokenize or sample.
 *
 * @module
 */

export { mambaGraph, mambaModel } from "./graph.ts";
export { MambaState, mambaStateParts, mambaStateSize } from "./state.ts";
export { isMamba, loadMambaWeights, mambaDims, mambaFootprint, type MambaWeights } from "./weights.ts";
