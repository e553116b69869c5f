import type { Backend, QuantFormat, Recurrence } from "../kernels/mod.ts";
import { quantizedSavings } from "./quantize.ts";
import type { TensorMap } from "./formats/tensor.ts";
import { isMamba2, loadMamba2Weights, mamba2Footprint, mamba2Model } from "./mamba2/mod.ts";
import { isMamba, loadMambaWeights, mambaFootprint, mambaModel } from "./mamba/mod.ts";
import { isRetNet, loadRetNetWeights, retnetFootprint, retnetModel } from "./retnet/mod.ts";
import { isRwkv4, loadRwkv4Weights, rwkv4Footprint, rwkv4Model } from "./rwkv4/mod.ts";
import { isRwkv7, loadRwkv7Weights, rwkv7Footprint, rwkv7Model } from "./rwkv7/mod.ts";
import type { FamilyModel } from "./shared/runner.ts";
import { constantBytes, type Footprint } from "./shared/weights.ts";
import type { Family } from "./types.ts";

/** What the loader needs of a model family. */
export interface FamilySpec {
  /** Whether a checkpoint (its tensors and config.json, if any) belongs to this family. */
  detect(tensors: TensorMap, config: Record<string, unknown> | undefined): boolean;
  /** Backend bytes for the weights plus buffers of `chunk` tokens, the widest matrix, the state's size. */
  footprint(tensors: TensorMap, chunk: number, config?: Record<string, unknown>): Footprint;
  /** Validates the tensors, places them in `backend` and returns the family's model (run by the runner). */
  model(tensors: TensorMap, backend: Backend, config?: Record<string, unknown>): FamilyModel;
  /** The default vocabulary file (in assets/) when a directory brings no tokenizer. */
  defaultVocab?: string;
  /** The embedding's tensor: looked up in host memory, in backend memory only as a tied head. */
  embedding: string;
  /** The output head's tensor, when the checkpoint does not tie it to the embedding. */
  head: string;
  /** The recurrence op its step runs (what `--backend auto`'s self-check runs besides matmuls). */
  recurrence: Recurrence;
}

/** The model families, by name. */
export const FAMILIES: ReadonlyMap<Family, FamilySpec> = new Map<Family, FamilySpec>([
  ["rwkv7", {
    detect: (tensors) => isRwkv7(tensors),
    footprint: rwkv7Footprint,
    model: (tensors, backend) => rwkv7Model(loadRwkv7Weights(tensors, backend)),
    defaultVocab: "rwkv_vocab_v20230424.txt",
    embedding: "emb.weight",
    head: "head.weight",
    recurrence: "wkv7",
  }],
  ["rwkv4", {
    detect: (tensors, config) => isRwkv4(tensors, config),
    footprint: rwkv4Footprint,
    model: (tensors, backend, config) => rwkv4Model(loadRwkv4Weights(tensors, backend, config)),
    embedding: "rwkv.embeddings.weight",
    head: "head.weight",
    recurrence: "wkv4",
  }],
  ["mamba", {
    detect: (tensors, config) => isMamba(tensors, config),
    footprint: mambaFootprint,
    model: (tensors, backend, config) => mambaModel(loadMambaWeights(tensors, backend, config)),
    embedding: "backbone.embeddings.weight",
    head: "lm_head.weight",
    recurrence: "selectiveScan",
  }],
  ["mamba2", {
    detect: (tensors, config) => isMamba2(tensors, config),
    footprint: mamba2Footprint,
    model: (tensors, backend, config) => mamba2Model(loadMamba2Weights(tensors, backend, config)),
    embedding: "backbone.embeddings.weight",
    head: "lm_head.weight",
    recurrence: "ssdScan",
  }],
  ["retnet", {
    detect: (tensors, config) => isRetNet(tensors, config),
    footprint: retnetFootprint,
    model: (tensors, backend, config) => retnetModel(loadRetNetWeights(tensors, backend, config)),
    embedding: "embed_tokens.weight",
    head: "output_projection.weight",
    recurrence: "retention",
  }],
]);

/**
 * What a backend must be sized for to run a checkpoint: its weights (quantized into `weights`, if
 * given), working buffers for `chunk` rows, the constants, and a state arena of `slots` + 1 slots
 * (one spare for `forward`) with a logits row for each.
 */
export function backendSize(
  spec: FamilySpec,
  tensors: TensorMap,
  shape: { chunk: number; slots: number; config?: Record<string, unknown>; weights?: QuantFormat },
): { capacity: number; maxCols: number } {
  const f = spec.footprint(tensors, shape.chunk, shape.config);
  const arena = (shape.slots + 1) * (f.stateFloats + f.vocab + 4) * 4;
  // The footprints count every tensor; an embedding with a head of its own stays in host memory.
  const hostOnly = tensors.has(spec.head) ? spec.embedding : undefined;
  const hostBytes = hostOnly ? tensors.get(hostOnly)?.bytes.byteLength ?? 0 : 0;
  // Quantized: packed weights and scales, and the WASM kernels' 4 bytes per block beside them.
  const q = shape.weights ? quantizedSavings(tensors, shape.weights, hostOnly) : { saved: 0, blocks: 0 };
  const saved = q.saved - 4 * q.blocks;
  return {
    capacity: f.capacity - hostBytes - saved + arena + constantBytes(tensors) + 4 * shape.chunk * 4,
    maxCols: f.maxCols,
  };
}
