/**
 * What a second thread buys, and what the split choice (kernels/wasm/split_choice.ts) and the
 * grouping of independent matmuls into one job (kernels/wasm/call_groups.ts) keep of it: the
 * RWKV-7 0.1B shape (random weights) built five times — 1 thread, 2 threads splitting every large
 * call, 2 threads splitting where it measured faster, each of the two also with each matmul its
 * own job — and measured in alternating rounds in one process, so all see the same machine.
 * Hand-offs: jobs posted to the worker in the last decode step (each a wake and a join).
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
  {
    label: "2 threads, every call split, calls not grouped",
    model: await buildModel(tensors, 2, undefined, undefined, false, false),
  },
  { label: "2 threads, split as measured", model: await buildModel(tensors, 2) },
  {
    label: "2 threads, split as measured, calls not grouped",
    model: await buildModel(tensors, 2, undefined, undefined, undefined, false),
  },
].map((r) => ({ ...r, decode: [] as number[], prefill: [] as number[], handOffs: 0 }));
for (let r = 0; r < rounds; r++) {
  console.error(`round ${r + 1} of ${rounds}`);
  for (const run of runs) {
    const s = await measureSpeed(run.model, 16, 128);
    run.decode.push(s.decodeTps);
    run.prefill.push(s.prefillTps);
    const before = run.model.backend.handOffs?.() ?? 0;
    await run.model.step([{ slot: 0, tokens: [1] }]);
    run.handOffs = (run.model.backend.handOffs?.() ?? 0) - before;
  }
}
const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
const [one] = runs;
console.log(`RWKV-7 0.1B shape, ${dtype}, ${rounds} alternating rounds, median tok/s (÷ 1 thread):`);
console.log("| run | decode | prefill, 128 tokens | hand-offs per decode token |");
console.log("| --- | ---: | ---: | ---: |");
for (const run of runs) {
  const d = median(run.decode), p = median(run.prefill);
  const ratio = (a: number, b: number) => (a / b).toFixed(2);
  console.log(
    `| ${run.label} | ${d.toFixed(1)} (${ratio(d, median(one.decode))}) | ${p.toFixed(1)} (${
      ratio(p, median(one.prefill))
    }) | ${run.handOffs} |`,
  );
}
for (const run of runs) run.model.backend.close();
Deno.exit(0);
