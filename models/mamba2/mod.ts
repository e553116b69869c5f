/**
 * Mamba-2 (SSD) in HF transformers' format (`Mamba2ForCausalLM`: heads, head_dim,
 * n_groups, gated RMSNorm): the recurrent step and a chunked prefill on any kernel
 * backend. Does not tokenize or sample.
 *
 * @module
 */

export { mamba2Graph, mamba2Model } from "./graph.ts";
export { Mamba2State, mamba2StateParts, mamba2StateSize } from "./state.ts";
export { isMamba2, loadMamba2Weights, mamba2Dims, mamba2Footprint, type Mamba2Weights } from "./weights.ts";
