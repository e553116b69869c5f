/**
 * Builds `kernels.wasm` from `kernels.c` with Debian's clang and lld
 * (`apt-get install clang lld`). Run through `deno task build:wasm`; the built
 * module is committed so that a fresh clone runs without a C toolchain, and a
 * test checks that it matches what this script builds.
 *
 * @module
 */

const here = new URL(".", import.meta.url).pathname;

/** The clang command line that turns kernels.c into a WASM-SIMD module at `out`. */
export function buildCommand(out: string): string[] {
  return [
    "--target=wasm32",
    "-O3",
    "-msimd128",
    "-nostdlib",
    "-ffreestanding",
    "-Wl,--no-entry",
    "-Wl,--import-memory",
    "-Wl,--stack-first",
    "-Wl,-z,stack-size=65536",
    "-Wl,--export=__heap_base",
    "-Wl,--strip-all",
    "-o",
    out,
    `${here}kernels.c`,
  ];
}

/** Compiles kernels.c into `out` (default: kernels.wasm beside it). */
export async function buildWasm(out = `${here}kernels.wasm`): Promise<void> {
  const { code, stderr } = await new Deno.Command("clang", { args: buildCommand(out), stderr: "piped" })
    .output();
  if (code !== 0) {
    throw new Error(`clang failed (exit ${code}): ${new TextDecoder().decode(stderr)}`);
  }
}

if (import.meta.main) {
  await buildWasm();
  console.log(`built ${here}kernels.wasm`);
}
