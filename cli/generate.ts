/**
 * Streams a completion to stdout:
 * `deno task generate --model DIR --prompt TEXT [--max-tokens N --temperature T --top-p P --seed S]`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DEFAULT_SAMPLING, generate, newSession, randomSeed } from "../engine/mod.ts";
import type { BackendName } from "../kernels/mod.ts";
import { loadModel } from "../models/mod.ts";
import { DEFAULT_MODEL_DIR, intFlag, numberFlag } from "./defaults.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    model: { type: "string" },
    prompt: { type: "string" },
    "max-tokens": { type: "string" },
    temperature: { type: "string" },
    "top-p": { type: "string" },
    "top-k": { type: "string" },
    seed: { type: "string" },
    backend: { type: "string" },
    threads: { type: "string" },
    stats: { type: "boolean" },
  },
});

if (values.prompt === undefined) {
  console.error(
    "Usage: deno task generate --model DIR --prompt TEXT [--max-tokens N] [--temperature T]" +
      " [--top-p P] [--top-k K] [--seed S] [--stats]",
  );
  Deno.exit(2);
}

const loaded = await loadModel(values.model ?? DEFAULT_MODEL_DIR, {
  backend: values.backend as BackendName | undefined,
  threads: values.threads ? intFlag("threads", values.threads, 1) || 1 : undefined,
});
const session = newSession(loaded, intFlag("seed", values.seed, randomSeed()));
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
    maxTokens: intFlag("max-tokens", values["max-tokens"], 200),
    sampling: {
      ...DEFAULT_SAMPLING,
      temperature: numberFlag("temperature", values.temperature, 1),
      topP: numberFlag("top-p", values["top-p"], 1),
      topK: intFlag("top-k", values["top-k"], 0),
    },
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
