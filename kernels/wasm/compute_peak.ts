import { kernelModule, wasmRelaxedSimdSupported } from "./loader.ts";
import { OPS, ThreadPool } from "./pool.ts";

/**
 * Measures the most f32 multiply-adds per second the WASM kernels can issue on this machine:
 * the best of `repeats` runs of `fma_peak` (twelve independent FMA chains, no memory traffic) on
 * each of `threads` threads at once. Returns FLOP/s (a multiply-add counts as two). Prefill is
 * compute-bound, so this is its roofline, as the bandwidth probe is decode's.
 */
export async function measureWasmFmaPeak(threads = 1, repeats = 5, rounds = 4_000_000): Promise<number> {
  const shared = threads > 1;
  const pages = 16 + threads;
  const memory = new WebAssembly.Memory({ initial: pages, maximum: shared ? 65536 : pages, shared });
  const module = await kernelModule(shared ? "threads" : wasmRelaxedSimdSupported() ? "single" : "baseline");
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  const peak = instance.exports.fma_peak as (iters: number, x: number) => number;
  const stacks = Array.from({ length: threads - 1 }, (_, i) => (16 + i + 1) * 65536 - 16);
  const pool = shared ? await ThreadPool.start(module, memory, stacks) : undefined;
  let best = Infinity;
  try {
    peak(rounds / 10, 1); // warm up (tier-up)
    for (let r = 0; r < repeats; r++) {
      const t0 = performance.now();
      if (pool) {
        const args = Array.from({ length: threads - 1 }, () => [rounds, 1]);
        pool.run(OPS.indexOf("fma_peak"), args, () => peak(rounds, 1));
      } else peak(rounds, 1);
      best = Math.min(best, performance.now() - t0);
    }
  } finally {
    pool?.close();
  }
  return (rounds * 96 * threads) / (best / 1000);
}
