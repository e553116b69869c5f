// Property test of structured output: random schemas from the supported subset, random seeds,
// greedy and sampled, on the default model, a tiny fixture and a random-weight model with an HF
// byte-level BPE tokenizer. A finished output parses and validates (ajv); an output cut by
// max_tokens ends with finish_reason "length" and is the start of the uncut run's valid output.
import assert from "node:assert/strict";
import { Ajv } from "./helpers/dev_deps.ts";
import {
  compileResponseFormat,
  generate,
  mulberry32,
  newSession,
  type ResponseFormat,
} from "../engine/mod.ts";
import { type LoadedModel, loadModel } from "../models/mod.ts";
import { backendSize, createRecurrentModel, DEFAULT_SLOTS, FAMILIES } from "../models/mod.ts";
import { createBackend } from "../kernels/mod.ts";
import { HuggingFaceTokenizer } from "../tokenizers/mod.ts";
import { randomRwkv7 } from "../bench/random_rwkv7.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const ajv = new Ajv({ strict: false });

type Schema = Record<string, unknown>;

/**
 * A random schema of the supported subset (depth-limited), with `$defs` when it uses `$ref`;
 * ASCII names and values only if `ascii` (the tiny fixtures' vocabularies have no other bytes).
 */
function randomSchema(rand: () => number, ascii: boolean): Schema {
  const defs: Record<string, Schema> = {};
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
  const node = (depth: number): Schema => {
    const kinds = depth > 2 ? ["int", "num", "enum", "bool", "null", "const", "str"] : [
      "object",
      "object",
      "array",
      "anyOf",
      "ref",
      "int",
      "num",
      "enum",
      "bool",
      "str",
    ];
    switch (pick(kinds)) {
      case "object": {
        const names = ["id", "name", "ok", "n", "kind", "items", "x y", ascii ? "e" : "é"].filter(() =>
          rand() < 0.5
        );
        if (names.length === 0) names.push("v");
        const properties = Object.fromEntries(names.map((n) => [n, node(depth + 1)]));
        return {
          type: "object",
          properties,
          required: names.filter(() => rand() < 0.6),
          additionalProperties: false,
        };
      }
      case "array": {
        const minItems = Math.floor(rand() * 3);
        return {
          type: "array",
          items: node(depth + 1),
          minItems,
          maxItems: minItems + Math.floor(rand() * 3),
        };
      }
      case "anyOf":
        return { anyOf: [node(depth + 1), node(depth + 1)] };
      case "ref": {
        const name = `d${Object.keys(defs).length}`;
        defs[name] = {}; // taken before the body is made, so a nested $ref gets another name
        defs[name] = node(depth + 1);
        return { $ref: `#/$defs/${name}` };
      }
      case "int": {
        const min = Math.floor(rand() * 200) - 100;
        return { type: "integer", minimum: min, maximum: min + Math.floor(rand() * 1000) };
      }
      case "num": {
        const min = Math.round(rand() * 100 - 50) / 10;
        return rand() < 0.5
          ? { type: "number" }
          : { type: "number", minimum: min, maximum: min + rand() * 10 };
      }
      case "enum":
        return {
          type: "string",
          enum: ["Genesis", "Exodus", "in the beginning", ascii ? "u" : "ü"].filter(() => rand() < 0.7)
            .concat("x"),
        };
      case "bool":
        return { type: "boolean" };
      case "null":
        return { type: "null" };
      case "const":
        return { const: pick([1, "LORD", [1, { a: null }], { b: true }]) };
      default:
        return rand() < 0.5 ? { type: "string" } : { type: ["string", "null"] };
    }
  };
  const root = node(0);
  return Object.keys(defs).length ? { ...root, $defs: defs } : root;
}

interface Run {
  text: string;
  tokens: number;
  finish: string;
}

async function run(
  loaded: LoadedModel,
  format: ResponseFormat,
  seed: number,
  temperature: number,
  maxTokens: number,
) {
  const session = newSession(loaded, seed);
  const events = generate(loaded, session, {
    prompt: loaded.tokenizer.encode("And the LORD said: "),
    maxTokens,
    sampling: {
      temperature,
      topP: 1,
      topK: 0,
      minP: 0,
      presencePenalty: 0,
      frequencyPenalty: 0,
      repetitionPenalty: 1,
    },
    grammar: compileResponseFormat(format),
    flushAtEnd: true,
  });
  const out: Run = { text: "", tokens: 0, finish: "" };
  for await (const ev of events) {
    out.text += ev.text;
    if (ev.type === "token") out.tokens++;
    else out.finish = ev.finishReason;
  }
  return out;
}

/** Runs `cases` random schemas × (greedy, sampled) on `loaded`; returns how many runs finished. */
async function property(loaded: LoadedModel, seed: number, cases: number, maxTokens: number, ascii = false) {
  const rand = mulberry32(seed);
  let finished = 0, runs = 0;
  for (let i = 0; i < cases; i++) {
    const schema: Schema | undefined = i % 8 === 7 ? undefined : randomSchema(rand, ascii);
    const format: ResponseFormat = schema
      ? { type: "json_schema", json_schema: { name: "random", schema } }
      : { type: "json_object" };
    const validate = ajv.compile(schema ?? { type: "object" });
    for (const temperature of [0, 1]) {
      const runSeed = Math.floor(rand() * 1e9);
      const whole = await run(loaded, format, runSeed, temperature, maxTokens);
      const what = `schema ${JSON.stringify(schema)} seed ${runSeed} temperature ${temperature}: ${
        JSON.stringify(whole.text)
      }`;
      runs++;
      if (whole.finish === "stop") {
        finished++;
        let value: unknown;
        assert.doesNotThrow(() => value = JSON.parse(whole.text), what);
        assert.ok(validate(value), `${what} fails ${JSON.stringify(validate.errors)}`);
      } else {
        assert.equal(whole.finish, "length", what);
        assert.equal(whole.tokens, maxTokens, what);
      }
      if (whole.tokens > 1) {
        const k = 1 + Math.floor(rand() * (whole.tokens - 1));
        const cut = await run(loaded, format, runSeed, temperature, k);
        assert.equal(cut.finish, "length", `${what} cut at ${k}`);
        assert.ok(whole.text.startsWith(cut.text), `${what} cut at ${k}: ${JSON.stringify(cut.text)}`);
      }
    }
  }
  return { finished, runs };
}

Deno.test("default model: random schemas, greedy and sampled, always give valid JSON or a valid prefix", async () => {
  const loaded = await loadModel(ROOT + "assets/rwkv7-kjv-4m");
  const { finished, runs } = await property(loaded, 1, 24, 150);
  assert.ok(finished >= runs / 2, `${finished} of ${runs} runs finished within max_tokens`);
});

Deno.test("tiny fixture: random schemas, greedy and sampled, always give valid JSON or a valid prefix", async () => {
  const loaded = await loadModel(ROOT + "tests/fixtures/rwkv7/tiny");
  const { finished, runs } = await property(loaded, 2, 16, 150, true);
  assert.ok(finished >= runs / 4, `${finished} of ${runs} runs finished within max_tokens`);
});

Deno.test("HF byte-level BPE tokenizer (random weights): valid JSON or a valid prefix", async () => {
  const tokenizer = new HuggingFaceTokenizer(
    JSON.parse(await Deno.readTextFile(ROOT + "../shared/data/20B_tokenizer.json")),
  );
  const shape = { nLayer: 1, nEmbd: 64, headSize: 64, vocab: Math.ceil(tokenizer.vocabSize / 64) * 64 };
  const tensors = randomRwkv7(shape, "f32", 5);
  const spec = [...FAMILIES.values()].find((f) => f.detect(tensors, undefined))!;
  const size = backendSize(spec, tensors, { chunk: 16, slots: DEFAULT_SLOTS });
  const backend = await createBackend({ ...size, threads: 1 }, "wasm");
  const model = createRecurrentModel({ ...spec.model(tensors, backend), backend, chunk: 16 });
  const loaded: LoadedModel = { id: "random-neox", family: "rwkv7", model, tokenizer, fingerprint: "random" };
  try {
    const { finished, runs } = await property(loaded, 3, 8, 120);
    assert.ok(finished >= 1, `${finished} of ${runs} runs finished within max_tokens`);
  } finally {
    backend.close();
  }
});
