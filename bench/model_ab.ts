/**
 * Two builds of the WASM kernels on a whole model: decode and prefill tokens/s of one family at
 * its real shape in one weight format, one thread, the two builds measured in alternating rounds
 * in one process (median of each round, best round of each build), so a kernel change is judged
 * end to end on a shared, noisy machine by its ratio.
 *
 *   git show HEAD:kernels/wasm/kernels.wasm > /tmp/old.wasm     # the build before
 *   deno task build:wasm                                         # the candidate: kernels/wasm/kernels.wasm
 *   deno run -A bench/model_ab.ts /tmp/old.wasm kernels/wasm/kernels.wasm --model rwkv7 --weights q4
 *
 * Both files must be single-threaded builds (kernels.wasm) taking the same arguments.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { provideKernelModule, type QuantFormat, type WeightDType } from "../kernels/mod.ts";
import type { RecurrentModel } from "../models/mod.ts";
import {
  mamba2_130m,
  mamba_130m,
  type RandomCheckpoint,
  retnet_100m,
  rwkv4_169m,
  withDtype,
} from "./random_families.ts";
import { randomRwkv7, RWKV7_0_1B } from "./random_rwkv7.ts";
import { buildModel, measureSpeed } from "./side_by_side.ts";

// A random checkpoint of a family in `dtype` (made once: the tensors are hundreds of MB).
const random = (make: () => RandomCheckpoint) => (dtype: WeightDType) => {
  const { tensors, config } = make();
  return { tensors: withDtype(tensors, dtype), config };
};
const MODELS = {
  rwkv7: (dtype: WeightDType) => ({ tensors: randomRwkv7(RWKV7_0_1B, dtype), config: undefined }),
  rwkv4: random(rwkv4_169m),
  mamba: random(() => mamba_130m()),
  mamba2: random(mamba2_130m),
  retnet: random(retnet_100m),
} as const;
const FORMATS = ["f32", "f16", "bf16", "int8", "q4"] as const;

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    model: { type: "string", default: "rwkv7" },
    weights: { type: "string", default: "bf16" },
    rounds: { type: "string", default: "5" },
    prefill: { type: "string", default: "128" },
  },
});
const model = values.model as keyof typeof MODELS;
const format = values.weights as typeof FORMATS[number];
if (positionals.length !== 2 || !(model in MODELS) || !FORMATS.includes(format)) {
  console.error(
    "Usage: deno run -A bench/model_ab.ts OLD.wasm NEW.wasm [--model rwkv7|rwkv4|mamba|mamba2|retnet]" +
      " [--weights f32|f16|bf16|int8|q4] [--rounds 5] [--prefill 128]",
  );
  Deno.exit(2);
}
const rounds = Number(values.rounds), prefillTokens = Number(values.prefill);
const weights: QuantFormat | undefined = format === "int8" ? "q8" : format === "q4" ? "q4" : undefined;
const { tensors, config } = MODELS[model](weights ? "bf16" : format as WeightDType);

const builds: RecurrentModel[] = [];
for (const file of positionals) {
  provideKernelModule(await WebAssembly.compile(Deno.readFileSync(file)), "single");
  builds.push(await buildModel(tensors, 1, config, weights));
}
const best = builds.map(() => ({ decodeTps: 0, prefillTps: 0 }));
for (let r = 0; r < rounds; r++) {
  for (const [b, m] of builds.entries()) {
    const { decodeTps, prefillTps } = await measureSpeed(m, 32, prefillTokens);
    best[b].decodeTps = Math.max(best[b].decodeTps, decodeTps);
    best[b].prefillTps = Math.max(best[b].prefillTps, prefillTps);
    console.error(`round ${r + 1}/${rounds}, build ${b + 1}: decode ${decodeTps.toFixed(1)} tok/s`);
  }
}
const [a, b] = best;
console.log(`${model} ${format}, 1 thread, best of ${rounds} alternating rounds`);
console.log("| | old tok/s | new tok/s | new ÷ old |");
console.log("| --- | ---: | ---: | ---: |");
console.log(
  `| decode | ${a.decodeTps.toFixed(1)} | ${b.decodeTps.toFixed(1)} | ${
    (b.decodeTps / a.decodeTps).toFixed(2)
  } |`,
);
console.log(
  `| prefill ${prefillTokens} | ${a.prefillTps.toFixed(1)} | ${b.prefillTps.toFixed(1)} | ${
    (b.prefillTps / a.prefillTps).toFixed(2)
  } |`,
);
Deno.exit(0);
