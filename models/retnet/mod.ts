/**
 * RetNet in the paper's reference format (torchscale `RetNetDecoder` state dict in
 * safetensors + config.json with the `RetNetConfig` fields): the recurrent form and a
 * chunked prefill on any kernel backend. Does not tokenize or sample.
 *
 * @module
 */

export { retnetGraph, retnetModel } from "./graph.ts";
export { RetNetState, retnetStateParts, retnetStateSize } from "./state.ts";
export { isRetNet, loadRetNetWeights, retnetDims, retnetFootprint, type RetNetWeights } from "./weights.ts";
