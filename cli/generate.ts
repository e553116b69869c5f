/**
 * Streams a completion to stdout:
 * `deno task generate --prompt TEXT [--model DIR] [--max-tokens N] …` (`--help` lists the options).
 *
 * @module
 */

import { DEFAULT_SAMPLING, generate, newSession, randomSeed } from "../engine/mod.ts";
import type { BackendName } from "../kernels/mod.ts";
import { exitOnUserMistakes, fail, parseCommand, USAGE_EXIT } from "./command.ts";
import { DEFAULT_MODEL_DIR, intFlag, numberFlag, weightsFlag } from "./defaults.ts";
import { loadWithProgress } from "./load.ts";

const USAGE = `Usage: deno task generate --prompt TEXT [options]
Streams a completion of TEXT to stdout.
  --model DIR         model directory (default: the embedded ${DEFAULT_MODEL_DIR.split("/").pop()})
  --prompt TEXT       the text to continue (required)
  --max-tokens N      most tokens to generate (default 200)
  --temperature T     0 is greedy (default 1)
  --top-p P           nucleus sampling (default 1)
  --top-k K           0 disables (default 0)
  --seed S            seed of the sampler (default: random)
  --backend B         wasm (default) or reference
  --threads N         WASM threads (default 1)
  --weights W         quantize the matrices as they load: int8 or q4 (default: the checkpoint's precision)
  --stats             print prompt size, time to first token and tokens/s to stderr
  -h, --help          this text`;

exitOnUserMistakes();
const { values } = parseCommand(USAGE, {
  model: { type: "string" },
  prompt: { type: "string" },
  "max-tokens": { type: "string" },
  temperature: { type: "string" },
  "top-p": { type: "string" },
  "top-k": { type: "string" },
  seed: { type: "string" },
  backend: { type: "string" },
  threads: { type: "string" },
  weights: { type: "string" },
  stats: { type: "boolean" },
});

if (values.prompt === undefined) fail("Missing --prompt TEXT (--help lists the options)", USAGE_EXIT);

// Every flag is checked before the model loads: a typo costs no wait.
const maxTokens = intFlag("max-tokens", values["max-tokens"], 200);
const sampling = {
  ...DEFAULT_SAMPLING,
  temperature: numberFlag("temperature", values.temperature, 1),
  topP: numberFlag("top-p", values["top-p"], 1),
  topK: intFlag("top-k", values["top-k"], 0),
};
const seed = intFlag("seed", values.seed, randomSeed());
const threads = values.threads ? intFlag("threads", values.threads, 1) || 1 : undefined;
const loaded = await loadWithProgress(values.model ?? DEFAULT_MODEL_DIR, {
  backend: values.backend as BackendName | undefined,
  threads,
  weights: weightsFlag(values.weights),
});
const session = newSession(loaded, seed);
const prompt = loaded.tokenizer.encode(values.prompt);
const out = Deno.stdout;
const enc = new TextEncoder();
await out.write(enc.encode(values.prompt));
const started = performance.now();
let firstToken = 0;
let count = 0;
for await (
  const ev of generate(loaded, session, {
    prompt,
    maxTokens,
    sampling,
    flushAtEnd: true,
  })
) {
  if (ev.type === "token" && count++ === 0) firstToken = performance.now();
  await out.write(enc.encode(ev.text));
}
await out.write(enc.encode("\n"));
loaded.model.backend.close();
if (values.stats) {
  const end = performance.now();
  const rate = (count - 1) / ((end - firstToken) / 1000);
  console.error(
    `prompt ${prompt.length} tokens, first token after ${Math.round(firstToken - started)} ms, ` +
      `${count} tokens, ${rate.toFixed(1)} tokens/s`,
  );
}
