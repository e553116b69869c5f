/**
 * Loads the WASM-SIMD kernel modules once per process. Deno reads them beside
 * this file; runtimes that hand modules in at deploy time (Cloudflare Workers)
 * pass theirs to {@linkcode provideKernelModule} first.
 *
 * @module
 */

// The smallest module that uses a v128 instruction: validates only where WASM SIMD is on.
const SIMD_PROBE = new Uint8Array([
  0,
  97,
  115,
  109,
  1,
  0,
  0,
  0,
  1,
  5,
  1,
  96,
  0,
  1,
  123,
  3,
  2,
  1,
  0,
  10,
  22,
  1,
  20,
  0,
  253,
  12,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  11,
]);

// A module whose one function is f32x4.relaxed_madd: validates only where relaxed SIMD is on.
const RELAXED_PROBE = new Uint8Array([
  0,
  97,
  115,
  109,
  1,
  0,
  0,
  0,
  1,
  8,
  1,
  96,
  3,
  123,
  123,
  123,
  1,
  123,
  3,
  2,
  1,
  0,
  10,
  13,
  1,
  11,
  0,
  32,
  0,
  32,
  1,
  32,
  2,
  253,
  133,
  2,
  11,
]);

/** Which build: one thread with relaxed SIMD, shared memory for several, or plain SIMD128. */
export type KernelBuild = "single" | "threads" | "baseline";

const FILES: Record<KernelBuild, string> = {
  single: "./kernels.wasm",
  threads: "./kernels_mt.wasm",
  baseline: "./kernels_baseline.wasm",
};

/** Whether this runtime runs relaxed SIMD (fused multiply-add). */
export function wasmRelaxedSimdSupported(): boolean {
  return typeof WebAssembly === "object" && WebAssembly.validate(RELAXED_PROBE);
}
const compiled = new Map<KernelBuild, Promise<WebAssembly.Module>>();

/** Whether this runtime runs 128-bit WASM SIMD. */
export function wasmSimdSupported(): boolean {
  return typeof WebAssembly === "object" && WebAssembly.validate(SIMD_PROBE);
}

/** Whether this runtime can share WASM memory between workers (our threaded build also needs relaxed SIMD). */
export function wasmThreadsSupported(): boolean {
  if (!wasmRelaxedSimdSupported()) return false;
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    return typeof Worker === "function" && typeof Atomics === "object";
  } catch {
    return false;
  }
}

/** Uses an already compiled kernel module (for runtimes that cannot read files). */
export function provideKernelModule(module: WebAssembly.Module, build: KernelBuild = "single"): void {
  compiled.set(build, Promise.resolve(module));
}

/** The compiled kernel module of a build; compiles it on first use. */
export function kernelModule(build: KernelBuild = "single"): Promise<WebAssembly.Module> {
  let module = compiled.get(build);
  if (!module) {
    // Beside this module: a file: URL on Deno (fetch reads it), http(s) in a browser. Runtimes
    // without either (Workers) hand the module in with provideKernelModule.
    module = fetch(new URL(FILES[build], import.meta.url))
      .then((r) => r.ok ? r.arrayBuffer() : Promise.reject(new Error(`${FILES[build]}: HTTP ${r.status}`)))
      .then((bytes) => WebAssembly.compile(bytes));
    compiled.set(build, module);
  }
  return module;
}
