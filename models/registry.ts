import type { Backend } from "../kernels/mod.ts";
import type { TensorMap } from "./formats/tensor.ts";
import { createMamba2Model, isMamba2, loadMamba2Weights, mamba2Footprint } from "./mamba2/mod.ts";
import { createMambaModel, isMamba, loadMambaWeights, mambaFootprint } from "./mamba/mod.ts";
import { createRetNetModel, isRetNet, loadRetNetWeights, retnetFootprint } from "./retnet/mod.ts";
import { createRwkv4Model, isRwkv4, loadRwkv4Weights, rwkv4Footprint } from "./rwkv4/mod.ts";
import { createRwkv7Model, isRwkv7, loadRwkv7Weights, rwkv7Footprint } from "./rwkv7/mod.ts";
import type { Family, RecurrentModel } from "./types.ts";

/** What the loader needs of a model family. */
export interface FamilySpec {
  /** Whether a checkpoint (its tensors and config.json, if any) belongs to this family. */
  detect(tensors: TensorMap, config: Record<string, unknown> | undefined): boolean;
  /** Backend bytes and widest matrix needed for the weights plus buffers of `chunk` tokens. */
  footprint(
    tensors: TensorMap,
    chunk: number,
    config?: Record<string, unknown>,
  ): { capacity: number; maxCols: number };
  /** Validates the tensors, places them in `backend` and returns the model. */
  create(
    tensors: TensorMap,
    backend: Backend,
    options: { chunk: number; config?: Record<string, unknown> },
  ): RecurrentModel;
  /** The default vocabulary file (in assets/) when a directory brings no tokenizer. */
  defaultVocab?: string;
}

/** The model families, by name. */
export const FAMILIES: ReadonlyMap<Family, FamilySpec> = new Map<Family, FamilySpec>([
  ["rwkv7", {
    detect: (tensors) => isRwkv7(tensors),
    footprint: rwkv7Footprint,
    create: (tensors, backend, options) =>
      createRwkv7Model(loadRwkv7Weights(tensors, backend), backend, options),
    defaultVocab: "rwkv_vocab_v20230424.txt",
  }],
  ["rwkv4", {
    detect: (tensors, config) => isRwkv4(tensors, config),
    footprint: rwkv4Footprint,
    create: (tensors, backend, options) =>
      createRwkv4Model(loadRwkv4Weights(tensors, backend, options.config), backend, options),
  }],
  ["mamba", {
    detect: (tensors, config) => isMamba(tensors, config),
    footprint: mambaFootprint,
    create: (tensors, backend, options) =>
      createMambaModel(loadMambaWeights(tensors, backend, options.config), backend, options),
  }],
  ["mamba2", {
    detect: (tensors, config) => isMamba2(tensors, config),
    footprint: mamba2Footprint,
    create: (tensors, backend, options) =>
      createMamba2Model(loadMamba2Weights(tensors, backend, options.config), backend, options),
  }],
  ["retnet", {
    detect: (tensors, config) => isRetNet(tensors, config),
    footprint: retnetFootprint,
    create: (tensors, backend, options) =>
      createRetNetModel(loadRetNetWeights(tensors, backend, options.config), backend, options),
  }],
]);
