/**
 * `--backend auto`: WebGPU when this runtime has a hardware adapter that computes what the model
 * needs as the reference backend does (kernels/self_check.ts: some adapters report features they
 * compute wrongly), else WASM-SIMD, else the reference. A software adapter (a CPU fallback such as
 * Mesa's llvmpipe/lavapipe, SwiftShader, WARP) is passed over: it is far slower than WASM.
 *
 * @module
 */

import type { BackendName } from "./types.ts";
import { selfCheck, type SelfCheckNeeds } from "./self_check.ts";
import { createWebGpuBackend } from "./webgpu/backend.ts";
import { type AdapterInfo, softwareAdapter } from "./webgpu/device.ts";

export { type AdapterInfo, softwareAdapter };
import { wasmSimdSupported } from "./wasm/loader.ts";

/** The backend `auto` chose, and why (the start line says it). */
export interface BackendChoice {
  readonly name: BackendName;
  readonly why: string;
}

/** Options of {@linkcode chooseBackend}. */
export interface ChooseOptions extends SelfCheckNeeds {
  /** Take a software adapter like a GPU (tests and CI, where lavapipe stands in for one). */
  readonly acceptSoftware?: boolean;
}

/** Picks the backend for `--backend auto` (see the module's description), checking what `options` needs. */
export async function chooseBackend(options: ChooseOptions = {}): Promise<BackendChoice> {
  const cpu: BackendName = wasmSimdSupported() ? "wasm" : "reference";
  const gpu = (navigator as { gpu?: GPU }).gpu;
  if (!gpu) return { name: cpu, why: "this runtime has no WebGPU" };
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" }).catch(() => null);
  if (!adapter) return { name: cpu, why: "no WebGPU adapter" };
  const { vendor, architecture, device, description } = adapter.info; // getters: not spreadable
  const info: AdapterInfo = {
    vendor,
    architecture,
    device,
    description,
    isFallbackAdapter: adapter.info.isFallbackAdapter ||
      (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter,
  };
  const what = info.description || info.device || info.vendor || "the adapter";
  const software = softwareAdapter(info);
  if (software && !options.acceptSoftware) {
    return { name: cpu, why: `the WebGPU adapter, ${what}, is ${software}: slower than ${cpu}` };
  }
  let failure: string | undefined;
  try {
    const backend = await createWebGpuBackend();
    try {
      failure = await selfCheck(backend, options);
    } finally {
      backend.close();
    }
  } catch (err) {
    failure = `it threw: ${(err as Error)?.message ?? err}`;
  }
  return failure
    ? { name: cpu, why: `the WebGPU adapter ${what} failed its self-check: ${failure}` }
    : { name: "webgpu", why: `the WebGPU adapter ${what} passed its self-check (${checked(options)})` };
}

function checked(needs: SelfCheckNeeds): string {
  const formats = [...new Set(needs.formats?.length ? needs.formats : ["f32"])];
  return [`matmul ${formats.join("/")}`, "norms", "silu", needs.recurrence].filter(Boolean).join(", ");
}
