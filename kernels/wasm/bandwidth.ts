import { kernelModule, wasmRelaxedSimdSupported } from "./loader.ts";
import { OPS, ThreadPool } from "./pool.ts";

/**
 * Measures how fast WASM reads memory on this machine: the best of `repeats`
 * passes of the eight-accumulator `sum_f32` over a buffer of `bytes` (far
 * larger than the caches), split between `threads` threads. Returns bytes per second.
 */
export async function measureWasmBandwidth(
  bytes = 512 * 1024 * 1024,
  repeats = 5,
  threads = 1,
): Promise<number> {
  const pages = Math.ceil((bytes + (1 << 20) + threads * 65536) / 65536);
  const shared = threads > 1;
  const memory = new WebAssembly.Memory({ initial: pages, maximum: shared ? 65536 : pages, shared });
  const module = await kernelModule(shared ? "threads" : wasmRelaxedSimdSupported() ? "single" : "baseline");
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  const sum = instance.exports.sum_f32 as (p: number, n: number) => number;
  const base = 1 << 20;
  const n = Math.floor(bytes / 4 / 32 / threads) * 32 * threads;
  new Float32Array(memory.buffer, base, n).fill(1);
  const stacks = Array.from({ length: threads - 1 }, (_, i) => base + n * 4 + (i + 1) * 65536);
  const pool = shared ? await ThreadPool.start(module, memory, stacks) : undefined;
  const per = n / threads;
  let best = Infinity;
  try {
    for (let r = 0; r < repeats; r++) {
      const t0 = performance.now();
      if (pool) {
        const args = Array.from({ length: threads - 1 }, (_, i) => [base + (i + 1) * per * 4, per]);
        pool.run(OPS.indexOf("sum_f32"), args, () => sum(base, per));
      } else {
        const s = sum(base, n);
        if (s !== n && n < 1 << 24) throw new Error(`sum_f32 returned ${s}, expected ${n}`);
      }
      best = Math.min(best, performance.now() - t0);
    }
  } finally {
    pool?.close();
  }
  return (n * 4) / (best / 1000);
}
