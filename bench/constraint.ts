/**
 * `deno task bench:constraint`: what structured output costs. Random RWKV-7 weights at the 0.1B
 * shape (bf16) with the 65 536-token World vocabulary: decode tokens/s without and with a JSON
 * schema (greedy, one token at a time), the constraint's share of each step (masking + advancing),
 * and one uncached token-trie walk per kind of automaton state.
 *
 *   deno task bench:constraint [--tokens N]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { createBackend } from "../kernels/mod.ts";
import { FAMILIES, type RecurrentModel } from "../models/mod.ts";
import { WorldTokenizer } from "../tokenizers/mod.ts";
import { argmax, compileResponseFormat, JsonConstraint, type ResponseFormat } from "../engine/mod.ts";
import { randomRwkv7, RWKV7_0_1B } from "./random_rwkv7.ts";

const { values } = parseArgs({ args: Deno.args, options: { tokens: { type: "string" } } });
const TOKENS = Number(values.tokens ?? 128);
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

async function buildModel(): Promise<RecurrentModel> {
  const tensors = randomRwkv7(RWKV7_0_1B, "bf16");
  const spec = [...FAMILIES.values()].find((f) => f.detect(tensors, undefined))!;
  const backend = await createBackend({ ...spec.footprint(tensors, CHUNK, undefined), threads: 1 }, "wasm");
  return spec.create(tensors, backend, { chunk: CHUNK });
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
const plain = decode(model, prompt);
const constrained = decode(model, prompt, new JsonConstraint(compileResponseFormat(FORMAT)!, tokenizer));
const tps = (r: { modelMs: number; constraintMs: number; tokens: number }) =>
  r.tokens / ((r.modelMs + r.constraintMs) / 1000);
console.log(`\nRWKV-7 0.1B shape, bf16, 1 thread, greedy, ${TOKENS} tokens at most:`);
console.log(`| run | tokens | decode tok/s | model ms/token | pick + constraint ms/token | share of step |`);
console.log(`| --- | --- | --- | --- | --- | --- |`);
for (const [name, r] of [["no schema", plain], ["json_schema", constrained]] as const) {
  const share = r.constraintMs / (r.modelMs + r.constraintMs);
  console.log(
    `| ${name} | ${r.tokens} | ${tps(r).toFixed(1)} | ${(r.modelMs / r.tokens).toFixed(2)} | ${
      (r.constraintMs / r.tokens).toFixed(3)
    } | ${(100 * share).toFixed(1)} % |`,
  );
}
