/**
 * Model families (RWKV-4, RWKV-7, Mamba, Mamba-2, RetNet), checkpoint formats and the model-directory
 * loader. Runs forward passes; does not sample, store sessions or speak HTTP.
 *
 * @module
 */

export { ModelLoadError } from "./errors.ts";
export {
  parseSafetensors,
  safetensorsHeader,
  type TensorEntry,
  writeSafetensors,
} from "./formats/safetensors.ts";
export { numel, type RawTensor, type TensorMap } from "./formats/tensor.ts";
export {
  assembleModel,
  type LoadedModel,
  type LoadOptions,
  type LoadProgress,
  type ModelSource,
} from "./assemble.ts";
export { loadModel, modelDirectoryFiles } from "./load.ts";
export { type ModelFile, type ModelFileNames, pickModelFiles, readModelSource } from "./file_set.ts";
export { backendSize, FAMILIES, type FamilySpec } from "./registry.ts";
export { keepsPrecision, WEIGHT_FORMATS } from "./quantize.ts";
export { checkToken, createRecurrentModel, DEFAULT_SLOTS } from "./shared/runner.ts";
export type {
  AheadEntry,
  DevicePick,
  Family,
  ModelInfo,
  RecurrentModel,
  RecurrentState,
  StatePart,
  StepEntry,
} from "./types.ts";
