/**
 * Finds a WebGPU device through `navigator.gpu` (no runtime-specific API), asking for the
 * storage limits the recurrence shaders need.
 *
 * @module
 */

/** Storage buffers the widest shader binds (the RWKV-7 and Mamba recurrences). */
export const STORAGE_BUFFERS = 10;

/** What an adapter says of itself (GPUAdapterInfo's fields, and the older adapter flag). */
export interface AdapterInfo {
  readonly vendor?: string;
  readonly architecture?: string;
  readonly device?: string;
  readonly description?: string;
  readonly isFallbackAdapter?: boolean;
}

/** Names of software rasterizers as adapters report them. */
const SOFTWARE_NAMES = /llvmpipe|lavapipe|swiftshader|basic render driver|software/i;

/** Why an adapter is a software one (a CPU fallback, or named as one), or undefined for a GPU. */
export function softwareAdapter(info: AdapterInfo): string | undefined {
  const names = [info.description, info.device, info.vendor, info.architecture].filter(Boolean).join(" ");
  const named = names.match(SOFTWARE_NAMES)?.[0];
  if (info.isFallbackAdapter) return `a CPU fallback adapter${named ? ` (${named})` : ""}`;
  return named ? `a software rasterizer (${named})` : undefined;
}

/** A device of the default adapter, or an Error saying why there is none. */
export async function requestGpuDevice(): Promise<GPUDevice> {
  const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
  if (!gpu) {
    throw new Error(
      "WebGPU is not available in this runtime (no navigator.gpu): run Deno with --unstable-webgpu, or use the wasm backend",
    );
  }
  const adapter = await gpu.requestAdapter();
  if (!adapter) {
    throw new Error(
      "No WebGPU adapter found (no GPU, or no Vulkan/Metal/D3D12 driver such as Mesa's lavapipe): use the wasm backend",
    );
  }
  const limits = adapter.limits;
  if (limits.maxStorageBuffersPerShaderStage < STORAGE_BUFFERS) {
    throw new Error(
      `The WebGPU adapter binds ${limits.maxStorageBuffersPerShaderStage} storage buffers per shader; ` +
        `the kernels need ${STORAGE_BUFFERS}: use the wasm backend`,
    );
  }
  return await adapter.requestDevice({
    requiredLimits: {
      maxStorageBuffersPerShaderStage: STORAGE_BUFFERS,
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
    },
  });
}
