/**
 * `deno task bench:constraint`: what structured output costs. Random RWKV-7 weights at the 0.1B
 * shape (bf16) with the 65 536-token World vocabulary: decode tokens/s without and with a JSON
 * schema (greedy, one token at a time), the constraint's share of each step (masking + advancing),
 * and one uncached token-trie walk per kind of automaton state.
 *
 *   deno task bench:constraint [--tokens N] [--rounds R]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { createBackend } from "../kernels/mod.ts";
import {
  backendSize,
  createRecurrentModel,
  DEFAULT_SLOTS,
  FAMILIES,
  type RecurrentModel,
} from "../models/mod.ts";
import { WorldTokenizer } from "../tokenizers/mod.ts";
import { argmax, compileResponseFormat, JsonConstraint, type ResponseFormat } from "../engine/mod.ts";
import { randomRwkv7, RWKV7_0_1B } from "./random_rwkv7.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { tokens: { type: "string" }, rounds: { type: "string" } },
});
const TOKENS = Number(values.tokens ?? 128);
const ROUNDS = Number(values.rounds ?? 3);
const CHUNK = 64;

/** A schema of the kind applications send: nested object, enum, bounded numbers, free strings, array. */
const FORMAT: ResponseFormat = {
  type: "json_schema",
  json_schema: {
    name: "order",
    schema: {
      type: "object",
      properties: {
        id: { type: "integer", minimum: 1, maximum: 999999 },
        status: { enum: ["pending", "shipped", "delivered"] },
        customer: {
          type: "object",
          properties: { name: { type: "string" }, vip: { type: "boolean" } },
          required: ["name", "vip"],
        },
        items: {
          type: "array",
          items: {
            type: "object",
            properties: { sku: { type: "string" }, qty: { type: "integer", minimum: 1, maximum: 99 } },
            required: ["sku", "qty"],
          },
          minItems: 1,
          maxItems: 8,
        },
        total: { type: "number", minimum: 0 },
      },
      required: ["id", "status", "customer", "items", "total"],
    },
  },
};

/** A schema with no free strings: every few tokens the automaton is in a new state (keys, enums, numbers). */
const DENSE: ResponseFormat = {
  type: "json_schema",
  json_schema: {
    name: "refs",
    schema: {
      type: "array",
      items: {
        type: "object",
        properties: {
          book: { enum: ["Genesis", "Exodus", "Psalms", "John"] },
          chapter: { type: "integer", minimum: 1, maximum: 150 },
          verse: { type: "integer", minimum: 1, maximum: 176 },
          kept: { type: "boolean" },
        },
        required: ["book", "chapter", "verse", "kept"],
      },
      minItems: 50,
    },
  },
};

async function buildModel(): Promise<RecurrentModel> {
  const tensors = randomRwkv7(RWKV7_0_1B, "bf16");
  const spec = [...FAMILIES.values()].find((f) => f.detect(tensors, undefined))!;
  const size = backendSize(spec, tensors, { chunk: CHUNK, slots: DEFAULT_SLOTS });
  const backend = await createBackend({ ...size, threads: 1 }, "wasm");
  return createRecurrentModel({ ...spec.model(tensors, backend), backend, chunk: CHUNK });
}

/** Greedy decode of `TOKENS` tokens; returns ms in the model and ms in picking (argmax, and the constraint). */
function decode(model: RecurrentModel, prompt: number[], constraint?: JsonConstraint) {
  const state = model.newState();
  let logits = model.forward(prompt, state);
  let modelMs = 0, constraintMs = 0, n = 0;
  for (; n < TOKENS; n++) {
    const t0 = performance.now();
    const choices = constraint ? constraint.mask(logits) : logits;
    const token = choices ? argmax(choices) : -1;
    if (constraint && token >= 0) constraint.advance(token);
    const done = constraint?.complete ?? false;
    const t1 = performance.now();
    constraintMs += t1 - t0;
    if (token < 0 || done) break;
    logits = model.forward([token], state);
    modelMs += performance.now() - t1;
  }
  return { modelMs, constraintMs, tokens: n };
}

const vocab = await Deno.readTextFile(new URL("../assets/rwkv_vocab_v20230424.txt", import.meta.url));
const tokenizer = new WorldTokenizer(vocab);
const grammar = compileResponseFormat(FORMAT)!;
let t = performance.now();
new JsonConstraint(grammar, tokenizer);
const trieMs = performance.now() - t;
console.log(
  `token trie for ${tokenizer.vocabSize} tokens built in ${trieMs.toFixed(0)} ms (once per tokenizer)`,
);

// Uncached masks (a copy of the grammar has an empty mask cache); the first in a string also
// classifies every token for strings, once per tokenizer.
const states = [
  ["after {", "{"],
  ["in a free string, first time", '{"id":1,"status":"pending","customer":{"name":"A'],
  ["in a free string", '{"id":1,"status":"pending","customer":{"name":"A'],
  ["in a number", '{"id":12'],
] as const;
for (const [what, prefix] of states) {
  const fresh = new JsonConstraint({ ...grammar }, tokenizer);
  for (const id of tokenizer.encodeBytes(new TextEncoder().encode(prefix))) fresh.advance(id);
  t = performance.now();
  const allowed = fresh.allowed();
  const ms = performance.now() - t;
  let count = 0;
  for (const w of allowed) for (let x = w; x; x &= x - 1) count++;
  console.log(`uncached mask ${what}: ${ms.toFixed(2)} ms, ${count} tokens allowed`);
}

const model = await buildModel();
const prompt = tokenizer.encode("Write the order as JSON:\n");
decode(model, prompt.slice(0, 4)); // warm up
// Alternate the runs (the host's speed drifts) and report medians.
type Result = ReturnType<typeof decode>;
const runs: Record<string, Result[]> = {
  "no schema": [],
  json_object: [],
  "json_schema (strings)": [],
  "json_schema (no strings)": [],
};
for (let round = 0; round < ROUNDS; round++) {
  runs["no schema"].push(decode(model, prompt));
  runs.json_object.push(
    decode(model, prompt, new JsonConstraint(compileResponseFormat({ type: "json_object" })!, tokenizer)),
  );
  runs["json_schema (strings)"].push(
    decode(model, prompt, new JsonConstraint(compileResponseFormat(FORMAT)!, tokenizer)),
  );
  runs["json_schema (no strings)"].push(
    decode(model, prompt, new JsonConstraint(compileResponseFormat(DENSE)!, tokenizer)),
  );
}
const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(
  `\nRWKV-7 0.1B shape, bf16, 1 thread, greedy, ${TOKENS} tokens at most, median of ${ROUNDS} alternating runs:`,
);
console.log(
  `| run | tokens | decode tok/s | model ms/token | pick + constraint ms/token | share of step | share, first run (cold caches) |`,
);
console.log(`| --- | --- | --- | --- | --- | --- | --- |`);
for (const [name, rs] of Object.entries(runs)) {
  const perToken = (f: (r: Result) => number) => median(rs.map((r) => f(r) / r.tokens));
  const modelMs = perToken((r) => r.modelMs), pickMs = perToken((r) => r.constraintMs);
  const tps = median(rs.map((r) => r.tokens / ((r.modelMs + r.constraintMs) / 1000)));
  const shareOf = (r: Result) => r.constraintMs / (r.modelMs + r.constraintMs);
  const cold = shareOf(rs[0]);
  const share = median(rs.map(shareOf));
  console.log(
    `| ${name} | ${rs[0].tokens} | ${tps.toFixed(1)} | ${modelMs.toFixed(2)} | ${pickMs.toFixed(3)} | ${
      (100 * share).toFixed(1)
    } % | ${(100 * cold).toFixed(1)} % |`,
  );
}
