/**
 * Builds the kernel modules from the C sources in `src/` with Debian's clang 19
 * and lld 19 (`apt-get install clang-19 lld-19`; clang 14 only knows pre-standard
 * relaxed-SIMD opcodes): `kernels.wasm` (one thread, fused multiply-add through
 * relaxed SIMD), `kernels_mt.wasm` (the same with shared memory and atomics, for
 * the multi-threaded backend) and `kernels_baseline.wasm` (plain SIMD128 for
 * runtimes without relaxed SIMD). Run through `deno task build:wasm`; the built
 * modules are committed so a fresh clone needs no C toolchain, and a test checks
 * that they match what this script builds.
 *
 * @module
 */

const here = new URL(".", import.meta.url).pathname;

/** The compiler: Debian's clang-19 (its own wasm-ld-19 links). */
export const CLANG = "clang-19";

/** The two builds: file name and the flags that differ. */
export const BUILDS: Record<string, string[]> = {
  "kernels.wasm": ["-mrelaxed-simd"],
  "kernels_baseline.wasm": [],
  "kernels_mt.wasm": [
    "-mrelaxed-simd",
    "-matomics",
    "-mbulk-memory",
    "-mmutable-globals",
    "-Wl,--shared-memory",
    "-Wl,--max-memory=4294967296",
    "-Wl,--export=__stack_pointer",
  ],
};

/** The clang command line that builds `name` (a key of BUILDS) into `out`. */
export function buildCommand(name: string, out: string): string[] {
  return [
    "--target=wasm32",
    "-O3",
    "-msimd128",
    "-nostdlib",
    "-ffreestanding",
    ...BUILDS[name],
    "-Wl,--no-entry",
    "-Wl,--import-memory",
    "-Wl,--stack-first",
    "-Wl,-z,stack-size=65536",
    "-Wl,--export=__heap_base",
    "-Wl,--strip-all",
    "-o",
    out,
    ...SOURCES.map((f) => `${here}src/${f}`),
  ];
}

/** The kernel sources, one op per file (common.h is shared). */
export const SOURCES = [
  "matvec.c",
  "matmul.c",
  "elementwise.c",
  "wkv7.c",
  "ssm.c",
  "retention.c",
  "wkv4.c",
  "probe.c",
];

/** Compiles the sources into `outDir` (default: this folder), both builds. */
export async function buildWasm(outDir = here): Promise<void> {
  for (const name of Object.keys(BUILDS)) {
    const { code, stderr } = await new Deno.Command(CLANG, {
      args: buildCommand(name, `${outDir.replace(/\/?$/, "/")}${name}`),
      stderr: "piped",
    }).output();
    if (code !== 0) {
      throw new Error(`clang failed on ${name} (exit ${code}): ${new TextDecoder().decode(stderr)}`);
    }
  }
}

if (import.meta.main) {
  await buildWasm();
  console.log(`built ${Object.keys(BUILDS).join(", ")} in ${here}`);
}
