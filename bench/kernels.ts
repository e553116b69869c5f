/**
 * Kernel micro-benchmark: matvec GB/s (decode's bottleneck) and matmul GFLOP/s
 * (prefill's) per weight dtype on the WASM backend, beside the bandwidth probe.
 *
 *   deno run --allow-read bench/kernels.ts
 *
 * @module
 */

import { createBackend, measureWasmBandwidth, type WeightDType } from "../kernels/mod.ts";
import { mulberry32 } from "../engine/mod.ts";

const rand = mulberry32(1);

function best(fn: () => void, repeats: number): number {
  let b = Infinity;
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    fn();
    b = Math.min(b, performance.now() - t);
  }
  return b / 1000;
}

const bw = await measureWasmBandwidth();
console.log(`bandwidth probe: ${(bw / 1e9).toFixed(1)} GB/s`);
for (const dtype of ["f32", "f16", "bf16"] as WeightDType[]) {
  const size = dtype === "f32" ? 4 : 2;
  const [rows, cols] = [65536, 768];
  const backend = await createBackend({ capacity: rows * cols * size + (64 << 20), maxCols: 4096 }, "wasm");
  const bytes = new Uint8Array(rows * cols * size);
  const u16 = new Uint16Array(bytes.buffer);
  if (dtype === "f32") new Float32Array(bytes.buffer).forEach((_, i, a) => a[i] = rand() - 0.5);
  else {for (let i = 0; i < u16.length; i++) {
      u16[i] = dtype === "bf16" ? 0x3c00 + (i & 0xff) : 0x2c00 + (i & 0x3ff);
    }}
  const m = backend.matrix({ rows, cols, dtype, bytes });
  const x = backend.f32(cols * 64).map(() => rand() - 0.5);
  const xs = backend.f32(cols * 64);
  xs.set(x);
  const y = backend.f32(rows * 64);
  const t = best(() => backend.matvec(m, xs, y), 5);
  const mvGBs = rows * cols * size / t / 1e9;
  // matmul over 64 tokens on a 3072 x 768 slice
  const sub = backend.matrix({ rows: 3072, cols, dtype, bytes: bytes.subarray(0, 3072 * cols * size) });
  const tm = best(() => backend.matmul(sub, xs, y, 64), 5);
  const gflops = 2 * 3072 * cols * 64 / tm / 1e9;
  console.log(
    `${dtype}: matvec ${rows}x${cols} ${mvGBs.toFixed(1)} GB/s (${
      (100 * mvGBs * 1e9 / bw).toFixed(0)
    }% of probe), ` +
      `matmul 3072x${cols}x64 ${gflops.toFixed(1)} GFLOP/s`,
  );
}
