/**
 * Compute kernels behind one interface: a pure-TS reference, WASM-SIMD and WebGPU.
 * Knows nothing of models, sessions or HTTP.
 *
 * @module
 */

import type { Backend, BackendName } from "./types.ts";
import { createReferenceBackend } from "./reference/backend.ts";
import { createWasmBackend } from "./wasm/backend.ts";
import { wasmSimdSupported } from "./wasm/loader.ts";
import { createWebGpuBackend } from "./webgpu/backend.ts";
import type { PrefillForm } from "./webgpu/prefill_choice.ts";

export type {
  Backend,
  BackendName,
  Matrix,
  MatrixDType,
  MatrixSource,
  WeightDType,
  Wkv7Inputs,
  Wkv7Shape,
} from "./types.ts";
export type { Op, Rows, StateRef, Tensor, TensorDType, UnaryFn } from "./ops.ts";
export { PICK_PARAMS } from "./ops.ts";
export { bf16ToF32, bytesToF32, dtypeBytes, f16ToF32 } from "./widen.ts";
export { viewMatrix } from "./host_matrix.ts";
export { isQuantized, type QuantFormat, quantizable, quantizedBytes, quantizeMatrix } from "./quant.ts";
export {
  provideKernelModule,
  wasmRelaxedSimdSupported,
  wasmSimdSupported,
  wasmThreadsSupported,
} from "./wasm/loader.ts";
export { measureWasmBandwidth } from "./wasm/bandwidth.ts";
export { type CopyBandwidth, measureWebGpuCopyBandwidth } from "./webgpu/bandwidth.ts";
export { parsePrefillForm, type PrefillForm } from "./webgpu/prefill_choice.ts";
export {
  type AdapterInfo,
  type BackendChoice,
  chooseBackend,
  type ChooseOptions,
  softwareAdapter,
} from "./select.ts";
export { type Recurrence, SELF_CHECK_TOLERANCE, selfCheck, type SelfCheckNeeds } from "./self_check.ts";
export { measureWasmFmaPeak } from "./wasm/compute_peak.ts";

/** How much memory a backend must be able to hold. */
export interface BackendSize {
  /** Bytes of weights and buffers. */
  capacity: number;
  /** The widest matrix, in columns. */
  maxCols: number;
  /** Threads to run on (WASM only; default 1). */
  threads?: number;
  /** Calls with less work stay on one thread (WASM only). */
  minParallelWork?: number;
  /** Split calls only where that measured faster (WASM only; default true; see kernels/wasm/split_choice.ts). */
  adaptiveSplit?: boolean;
  /**
   * How a prefill's long runs run where an op has a chunked form (WebGPU only: RetNet, Mamba-2):
   * the form timed faster on the adapter (default "measure"), or always "chunked" or "recurrent".
   */
  prefill?: PrefillForm;
  /** Run consecutive independent matmuls as one threaded job (WASM only; default true; kernels/wasm/call_groups.ts). */
  groupCalls?: boolean;
}

/** The backends by name, each made for the size a model needs. */
export const BACKENDS: ReadonlyMap<BackendName, (size: BackendSize) => Promise<Backend>> = new Map<
  BackendName,
  (size: BackendSize) => Promise<Backend>
>([
  ["reference", () => Promise.resolve(createReferenceBackend())],
  ["wasm", (size) => createWasmBackend(size)],
  ["webgpu", (size) => createWebGpuBackend(size)],
]);

/** The fastest backend this runtime supports. */
export function defaultBackendName(): BackendName {
  return wasmSimdSupported() ? "wasm" : "reference";
}

/** Makes a backend by name (default: the fastest available). */
export function createBackend(size: BackendSize, name: BackendName = defaultBackendName()): Promise<Backend> {
  const make = BACKENDS.get(name);
  if (!make) {
    throw new TypeError(`Unknown backend "${name}": use one of ${[...BACKENDS.keys()].join(", ")}, or auto`);
  }
  return make(size);
}
