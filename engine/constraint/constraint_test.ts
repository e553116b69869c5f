import assert from "node:assert/strict";
import { HuggingFaceTokenizer, type Tokenizer, WorldTokenizer } from "../../tokenizers/mod.ts";
import { mulberry32 } from "../prng.ts";
import { InvalidRequestError, StateFormatError } from "../errors.ts";
import { JsonConstraint } from "./constraint.ts";
import { compileResponseFormat, type ResponseFormat } from "./response_format.ts";

const ROOT = new URL("../../", import.meta.url);
const world = new WorldTokenizer(await Deno.readTextFile(new URL("assets/rwkv_vocab_v20230424.txt", ROOT)));
const kjv = new WorldTokenizer(await Deno.readTextFile(new URL("assets/rwkv7-kjv-4m/vocab.txt", ROOT)));
const neox = new HuggingFaceTokenizer(
  JSON.parse(await Deno.readTextFile(new URL("../shared/data/20B_tokenizer.json", ROOT))),
);

const format = (schema: Record<string, unknown>): ResponseFormat => ({
  type: "json_schema",
  json_schema: { name: "t", schema },
});

const ORDER = format({
  type: "object",
  properties: {
    id: { type: "integer", minimum: 1, maximum: 9999 },
    status: { enum: ["pending", "shipped"] },
    note: { type: "string" },
    tags: { type: "array", items: { type: "string" }, maxItems: 3 },
    price: { type: "number", minimum: 0.5, maximum: 100 },
    extra: { anyOf: [{ type: "null" }, { type: "object", properties: { ok: { type: "boolean" } } }] },
  },
  required: ["id", "status", "note"],
});

/** Tokens that advance without error from `c`'s state, checked one by one (no trie, no cache). */
function bruteForce(tokenizer: Tokenizer, c: JsonConstraint, eos: number | undefined): Set<number> {
  const grammar = compileResponseFormat(ORDER)!;
  const allowed = new Set<number>();
  for (let id = 0; id < tokenizer.vocabSize; id++) {
    if (tokenizer.tokenBytes(id).length === 0) continue;
    const probe = new JsonConstraint(grammar, tokenizer, { snapshot: c.snapshot() });
    try {
      probe.advance(id);
      allowed.add(id);
    } catch { /* not allowed */ }
  }
  if (eos !== undefined && c.canEnd) allowed.add(eos);
  return allowed;
}

function maskedIds(c: JsonConstraint, vocab: number): Set<number> {
  const masked = c.mask(new Float32Array(vocab))!;
  return new Set([...masked.keys()].filter((id) => masked[id] === 0));
}

for (
  const [name, tokenizer] of [["World", world], ["HF byte-level BPE", neox], ["default model", kjv]] as const
) {
  Deno.test(`${name} vocabulary: the trie walk allows exactly the tokens that advance, all the way through`, () => {
    const rand = mulberry32(11);
    const eos = tokenizer.endOfText;
    const c = new JsonConstraint(compileResponseFormat(ORDER)!, tokenizer, { eos });
    let text = "";
    for (let step = 0; step < 400 && !c.complete; step++) {
      const allowed = maskedIds(c, tokenizer.vocabSize);
      if (step % 16 === 0 || step < 4) {
        assert.deepEqual(allowed, bruteForce(tokenizer, c, eos), `step ${step}: ${text}`);
      }
      // Prefer short tokens and closing quotes so the walk finishes: a random but valid path.
      const ids = [...allowed].filter((id) => id !== eos);
      const closing = ids.filter((id) => new TextDecoder().decode(tokenizer.tokenBytes(id)).includes('"'));
      const pool = closing.length && rand() < 0.3 ? closing : ids;
      const id = pool[Math.floor(rand() * pool.length)];
      c.advance(id);
      text += new TextDecoder().decode(tokenizer.tokenBytes(id));
    }
    assert.ok(c.complete, `the value completes: ${text}`);
    const value = JSON.parse(text);
    assert.ok(Number.isInteger(value.id) && value.id >= 1 && value.id <= 9999, text);
    assert.ok(["pending", "shipped"].includes(value.status), text);
    assert.equal(typeof value.note, "string");
  });
}

Deno.test("a snapshot restores the same state; a snapshot that does not fit the grammar is refused", () => {
  const grammar = compileResponseFormat(ORDER)!;
  const c = new JsonConstraint(grammar, world);
  for (const id of world.encode('{"id": 12, "status": "shipped", "note": "a')) c.advance(id);
  const restored = new JsonConstraint(grammar, world, { snapshot: JSON.parse(JSON.stringify(c.snapshot())) });
  assert.deepEqual(maskedIds(restored, world.vocabSize), maskedIds(c, world.vocabSize));
  const bad = c.snapshot();
  bad.alts[0][0][0] = 999;
  assert.throws(() => new JsonConstraint(grammar, world, { snapshot: bad }), StateFormatError);
  assert.throws(
    () => new JsonConstraint(grammar, world, { snapshot: { alts: [[[0, 1, 2]]] } as never }),
    /constraint\.alts\[0\]\[0\] is not a frame/,
  );
});

Deno.test("end-of-text is allowed only once the value is complete; a complete value allows nothing else", () => {
  const c = new JsonConstraint(compileResponseFormat({ type: "json_object" })!, world, { eos: 0 });
  for (const id of world.encode('{"a": [1, 2')) c.advance(id);
  assert.equal(c.mask(new Float32Array(world.vocabSize))![0], -Infinity);
  for (const id of world.encode("]}")) c.advance(id);
  assert.ok(c.complete);
  const masked = c.mask(new Float32Array(world.vocabSize))!;
  assert.equal(masked[0], 0);
  assert.equal(masked.filter((v) => v === 0).length, 1);
  const noEos = new JsonConstraint(compileResponseFormat({ type: "json_object" })!, world);
  for (const id of world.encode("{}")) noEos.advance(id);
  assert.equal(noEos.mask(new Float32Array(world.vocabSize)), undefined);
});

Deno.test("schemas outside the subset are refused with the keyword named", () => {
  const refused: [Record<string, unknown>, RegExp][] = [
    [{ type: "string", pattern: "^a" }, /keyword "pattern"/],
    [{ type: "string", minLength: 2 }, /keyword "minLength"/],
    [{ oneOf: [{ type: "string" }] }, /keyword "oneOf"/],
    [{ type: "object", properties: { a: { format: "date" } } }, /keyword "format" \(at #\/properties\/a\)/],
    [{ type: "object", properties: { a: {} }, additionalProperties: true }, /additionalProperties/],
    [{ type: "object", properties: { a: {} }, required: ["b"] }, /requires "b"/],
    [{ $ref: "#/$defs/missing" }, /names no definition/],
    [{ type: "integer", minimum: 1.5, maximum: 1.7 }, /no integer between/],
    [{ type: "array", minItems: 3, maxItems: 2 }, /"minItems" over "maxItems"/],
    [{
      $defs: { a: { type: "object", properties: { a: { $ref: "#/$defs/a" } }, required: ["a"] } },
      $ref: "#/$defs/a",
    }, /no finite instance/],
    [{ type: "date" }, /not a JSON type/],
    [
      { $defs: { a: { anyOf: [{ $ref: "#/$defs/a" }, { type: "null" }] } }, $ref: "#/$defs/a" },
      /anyOf or \$ref alone/,
    ],
  ];
  for (const [schema, message] of refused) {
    assert.throws(() => compileResponseFormat(format(schema)), (err: unknown) => {
      assert.ok(err instanceof InvalidRequestError, String(err));
      assert.match(err.message, message);
      assert.equal(err.param, "response_format");
      return true;
    });
  }
  assert.equal(compileResponseFormat({ type: "text" }), undefined);
});

Deno.test("a schema nested past 64 levels is refused by name, not with a stack overflow", () => {
  const nest = (levels: number) => {
    let schema: Record<string, unknown> = { type: "string" };
    for (let i = 0; i < levels; i++) schema = { type: "array", items: schema };
    return schema;
  };
  assert.ok(compileResponseFormat(format(nest(63))), "63 levels compile");
  for (const levels of [64, 2000]) {
    assert.throws(
      () => compileResponseFormat(format(nest(levels))),
      (e) => e instanceof InvalidRequestError && /nests deeper than 64 levels/.test(e.message),
      `${levels} levels`,
    );
  }
});
