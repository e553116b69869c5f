/**
 * What a second thread buys, and what the split choice (kernels/wasm/split_choice.ts) keeps of it:
 * the RWKV-7 0.1B shape (random weights) built three times — 1 thread, 2 threads splitting every
 * large call, 2 threads splitting where it measured faster — and measured in alternating rounds in
 * one process, so all three see the same machine.
 *
 *   deno run -A bench/threads.ts [--dtype bf16|f16|f32] [--rounds 6]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { randomRwkv7, RWKV7_0_1B } from "./random_rwkv7.ts";
import { buildModel, measureSpeed } from "./side_by_side.ts";

const { values } = parseArgs({ options: { dtype: { type: "string" }, rounds: { type: "string" } } });
const dtype = (values.dtype ?? "bf16") as "bf16" | "f16" | "f32";
const rounds = Number(values.rounds ?? 6);
const tensors = randomRwkv7(RWKV7_0_1B, dtype);
const runs = [
  { label: "1 thread", model: await buildModel(tensors, 1) },
  { label: "2 threads, every call split", model: await buildModel(tensors, 2, undefined, undefined, false) },
  { label: "2 threads, split as measured", model: await buildModel(tensors, 2) },
].map((r) => ({ ...r, decode: [] as number[], prefill: [] as number[] }));
for (let r = 0; r < rounds; r++) {
  console.error(`round ${r + 1} of ${rounds}`);
  for (const run of runs) {
    const s = await measureSpeed(run.model, 16, 128);
    run.decode.push(s.decodeTps);
    run.prefill.push(s.prefillTps);
  }
}
const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
const [one] = runs;
console.log(`RWKV-7 0.1B shape, ${dtype}, ${rounds} alternating rounds, median tok/s (÷ 1 thread):`);
console.log("| run | decode | prefill, 128 tokens |");
console.log("| --- | ---: | ---: |");
for (const run of runs) {
  const d = median(run.decode), p = median(run.prefill);
  const ratio = (a: number, b: number) => (a / b).toFixed(2);
  console.log(
    `| ${run.label} | ${d.toFixed(1)} (${ratio(d, median(one.decode))}) | ${p.toFixed(1)} (${
      ratio(p, median(one.prefill))
    }) |`,
  );
}
for (const run of runs) run.model.backend.close();
Deno.exit(0);
