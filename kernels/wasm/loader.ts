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

/** Which build: one thread, or shared memory for several. */
export type KernelBuild = "single" | "threads";

const FILES: Record<KernelBuild, string> = { single: "./kernels.wasm", threads: "./kernels_mt.wasm" };
const compiled = new Map<KernelBuild, Promise<WebAssembly.Module>>();

/** Whether this runtime runs 128-bit WASM SIMD. */
export function wasmSimdSupported(): boolean {
  return typeof WebAssembly === "object" && WebAssembly.validate(SIMD_PROBE);
}

/** Whether this runtime can share WASM memory between workers. */
export function wasmThreadsSupported(): boolean {
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
    module = Deno.readFile(new URL(FILES[build], import.meta.url)).then((bytes) =>
      WebAssembly.compile(bytes)
    );
    compiled.set(build, module);
  }
  return module;
}
