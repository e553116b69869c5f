/**
 * Two builds of the WASM kernels side by side: matmul GFLOP/s per weight format and token count,
 * each build measured in alternating rounds in one process (best of each), beside the FMA peak
 * measured in the same run, so a kernel change is judged on a shared, noisy machine by its ratio.
 *
 *   deno task build:wasm && cp kernels/wasm/kernels.wasm /tmp/new.wasm   # the candidate
 *   git stash && deno task build:wasm && cp kernels/wasm/kernels.wasm /tmp/old.wasm && git stash pop
 *   deno run -A bench/kernel_ab.ts /tmp/old.wasm /tmp/new.wasm [--formats bf16,q8] [--tokens 1,16,64]
 *
 * Both files must be single-threaded builds (kernels.wasm). q8 and q4 are bf16 rows quantized. The
 * matrix (9 MB in f32) mostly fits in cache: this compares compute, not memory bandwidth.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  createBackend,
  isQuantized,
  provideKernelModule,
  quantizeMatrix,
  type WeightDType,
} from "../kernels/mod.ts";
import { measureWasmFmaPeak } from "../kernels/wasm/compute_peak.ts";
import { toHalf } from "./random_rwkv7.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: { formats: { type: "string" }, tokens: { type: "string" }, rounds: { type: "string" } },
});
if (positionals.length !== 2) {
  console.error(
    "Usage: deno run -A bench/kernel_ab.ts OLD.wasm NEW.wasm [--formats f32,f16,bf16,q8,q4] [--tokens 1,16,64]",
  );
  Deno.exit(2);
}
const formats = (values.formats ?? "f32,f16,bf16,q8,q4").split(",") as WeightDType[];
for (const f of formats) {
  if (!["f32", "f16", "bf16", "q8", "q4"].includes(f)) {
    console.error(`--formats takes f32, f16, bf16, q8 and q4, got "${f}"`);
    Deno.exit(2);
  }
}
const tokenCounts = (values.tokens ?? "1,4,16,64").split(",").map(Number);
const rounds = Number(values.rounds ?? 6);
const [rows, cols] = [3072, 768];

/** A matmul of each case on a backend made from `bytes` (a kernel module), ready to time. */
async function setup(bytes: Uint8Array<ArrayBuffer>): Promise<(() => void)[]> {
  provideKernelModule(await WebAssembly.compile(bytes), "single");
  const backend = await createBackend({ capacity: 128 << 20, maxCols: 4096 }, "wasm");
  const calls: (() => void)[] = [];
  for (const dtype of formats) {
    const n = rows * cols;
    const f = new Float32Array(n).map((_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
    let source;
    if (dtype === "f32") source = { rows, cols, dtype, bytes: new Uint8Array(f.buffer) };
    else if (dtype === "f16") {
      source = { rows, cols, dtype, bytes: new Uint8Array(Uint16Array.from(f, toHalf).buffer) };
    } else {
      const bf16 = new Uint16Array(n).map((_, i) => new Uint32Array(f.buffer, i * 4, 1)[0] >>> 16);
      const raw = { rows, cols, dtype: "bf16" as const, bytes: new Uint8Array(bf16.buffer) };
      source = isQuantized(dtype) ? quantizeMatrix(raw, dtype) : raw;
    }
    const m = backend.matrix(source);
    const longest = Math.max(...tokenCounts);
    const x = backend.f32(cols * longest), y = backend.f32(rows * longest);
    for (let i = 0; i < x.length; i++) x[i] = ((i * 31) % 100) / 100 - 0.5;
    for (const tokens of tokenCounts) calls.push(() => backend.matmul(m, x, y, tokens));
  }
  return calls;
}

const builds = [
  await setup(Deno.readFileSync(positionals[0])),
  await setup(Deno.readFileSync(positionals[1])),
];
const best = builds.map((calls) => calls.map(() => Infinity));
for (let r = 0; r < rounds; r++) {
  for (const [b, calls] of builds.entries()) {
    calls.forEach((call, i) => {
      for (let k = 0; k < 8; k++) {
        const t = performance.now();
        call();
        best[b][i] = Math.min(best[b][i], performance.now() - t);
      }
    });
  }
}
const peak = await measureWasmFmaPeak(1) / 1e9;
console.log(
  `${rows} × ${cols} matmul, best of ${rounds} alternating rounds; FMA peak ${
    peak.toFixed(1)
  } GFLOP/s (1 thread)`,
);
console.log("| weights | tokens | old GFLOP/s (of peak) | new GFLOP/s (of peak) | new ÷ old |");
console.log("| --- | ---: | ---: | ---: | ---: |");
formats.forEach((dtype, f) => {
  tokenCounts.forEach((tokens, t) => {
    const i = f * tokenCounts.length + t;
    const [a, b] = best.map((ms) => 2 * rows * cols * tokens / ms[i] / 1e6);
    const pct = (g: number) => `${(100 * g / peak).toFixed(0)} %`;
    console.log(
      `| ${dtype} | ${tokens} | ${a.toFixed(1)} (${pct(a)}) | ${b.toFixed(1)} (${pct(b)}) | ${
        (b / a).toFixed(2)
      } |`,
    );
  });
});
Deno.exit(0);
