import { kernelModule } from "./loader.ts";

/**
 * Measures how fast WASM reads memory on this machine: the best of `repeats`
 * passes of the eight-accumulator `sum_f32` over a buffer of `bytes` (far
 * larger than the caches). Returns bytes per second.
 */
export async function measureWasmBandwidth(bytes = 512 * 1024 * 1024, repeats = 5): Promise<number> {
  const pages = Math.ceil((bytes + (1 << 20)) / 65536);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const instance = await WebAssembly.instantiate(await kernelModule(), { env: { memory } });
  const sum = instance.exports.sum_f32 as (p: number, n: number) => number;
  const base = 1 << 20;
  const n = Math.floor(bytes / 4 / 32) * 32;
  new Float32Array(memory.buffer, base, n).fill(1);
  let best = Infinity;
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    const s = sum(base, n);
    const dt = performance.now() - t0;
    if (s !== n && n < 1 << 24) throw new Error(`sum_f32 returned ${s}, expected ${n}`);
    best = Math.min(best, dt);
  }
  return (n * 4) / (best / 1000);
}
