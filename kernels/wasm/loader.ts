/**
 * Loads the WASM-SIMD kernel module once per process. Deno reads kernels.wasm
 * beside this file; runtimes that hand modules in at deploy time (Cloudflare
 * Workers) pass theirs to {@linkcode provideKernelModule} first.
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

let compiled: Promise<WebAssembly.Module> | undefined;

/** Whether this runtime runs 128-bit WASM SIMD. */
export function wasmSimdSupported(): boolean {
  return typeof WebAssembly === "object" && WebAssembly.validate(SIMD_PROBE);
}

/** Uses an already compiled kernel module (for runtimes that cannot read files). */
export function provideKernelModule(module: WebAssembly.Module): void {
  compiled = Promise.resolve(module);
}

/** The compiled kernel module; compiles kernels.wasm on first use. */
export function kernelModule(): Promise<WebAssembly.Module> {
  compiled ??= Deno.readFile(new URL("./kernels.wasm", import.meta.url)).then((bytes) =>
    WebAssembly.compile(bytes)
  );
  return compiled;
}
