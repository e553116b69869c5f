import assert from "node:assert/strict";
import { compileResponseFormat, type ResponseFormat } from "./response_format.ts";
import type { Grammar } from "./grammar.ts";
import { canEnd, type Frame, initialFrames, MAX_WHITESPACE, step } from "./json_grammar.ts";

const schema = (s: Record<string, unknown>): ResponseFormat => ({
  type: "json_schema",
  json_schema: { name: "t", schema: s },
});

/** "complete", "prefix" or "rejected": how the automaton takes `text`. */
function judge(g: Grammar, text: string): "complete" | "prefix" | "rejected" {
  let alts: Frame[] = initialFrames(g);
  for (const c of new TextEncoder().encode(text)) {
    const next: Frame[] = [];
    for (const f of alts) step(g, f, c, next);
    if (next.length === 0) return "rejected";
    alts = next;
  }
  return alts.some((f) => canEnd(g, f)) ? "complete" : "prefix";
}

Deno.test("json_object takes any object and nothing else", () => {
  const g = compileResponseFormat({ type: "json_object" })!;
  for (const t of ["{}", '{"a": [1, -2.5, "x\\n\\u00e9", true, null, {"b": {}}]}', '{"é😀": "ü"}']) {
    assert.equal(judge(g, t), "complete", t);
  }
  assert.equal(judge(g, '{"a": 1'), "prefix");
  for (
    const t of [
      "[]",
      '"x"',
      "1",
      '{"a" 1}',
      '{"a": 01}',
      '{"a": 1,}',
      '{"a": "\u0001"}',
      '{"a": tru}',
      "{a:1}",
    ]
  ) {
    assert.equal(judge(g, t), "rejected", t);
  }
  assert.equal(judge(g, '{"a": "\\x"}'), "rejected", "bad escape");
  assert.equal(judge(g, '{"a": "\xff"}'.replace("\xff", "\u00ff")), "complete", "é-like UTF-8 is fine");
});

Deno.test("whitespace between tokens is bounded", () => {
  const g = compileResponseFormat({ type: "json_object" })!;
  assert.equal(judge(g, "{" + " ".repeat(MAX_WHITESPACE) + "}"), "complete");
  assert.equal(judge(g, "{" + " ".repeat(MAX_WHITESPACE + 1) + "}"), "rejected");
  assert.equal(
    judge(g, '{"a":' + "\n".repeat(MAX_WHITESPACE) + "1" + " ".repeat(MAX_WHITESPACE) + "}"),
    "complete",
  );
});

Deno.test("objects take listed properties in order, required ones present, no others", () => {
  const g = compileResponseFormat(schema({
    type: "object",
    properties: { a: { type: "integer" }, b: { type: "string" }, c: { type: "boolean" } },
    required: ["b"],
    additionalProperties: false,
  }))!;
  assert.equal(judge(g, '{"b": "x"}'), "complete");
  assert.equal(judge(g, '{"a": 1, "b": "x", "c": false}'), "complete");
  assert.equal(judge(g, '{"a": 1'), "prefix");
  assert.equal(judge(g, '{"a": 1}'), "rejected", "b is still required");
  assert.equal(judge(g, '{"c": true}'), "rejected", "b may not be skipped");
  assert.equal(judge(g, '{"b": "x", "a": 1}'), "rejected", "order");
  assert.equal(judge(g, '{"b": "x", "d": 1}'), "rejected", "unknown key");
  assert.equal(judge(g, '{"a": 1.5, "b": "x"}'), "rejected", "integer");
  assert.equal(judge(g, '{"b": "x", "c": false,'), "rejected", "nothing may follow the last property");
});

Deno.test("arrays count their items", () => {
  const g = compileResponseFormat(
    schema({ type: "array", items: { type: "null" }, minItems: 1, maxItems: 2 }),
  )!;
  assert.equal(judge(g, "[]"), "rejected");
  assert.equal(judge(g, "[null]"), "complete");
  assert.equal(judge(g, "[null, null]"), "complete");
  assert.equal(judge(g, "[null, null,"), "rejected");
});

Deno.test("numbers keep within minimum and maximum, exactly", () => {
  const g = compileResponseFormat(schema({ type: "number", minimum: 0.3, maximum: 12.25 }))!;
  assert.equal(judge(g, "0.3"), "complete");
  assert.equal(judge(g, "0.2"), "rejected", "no completion of 0.2 reaches 0.3");
  assert.equal(judge(g, "0.29"), "rejected");
  assert.equal(judge(g, "12.25"), "complete");
  assert.equal(judge(g, "12.26"), "rejected");
  assert.equal(judge(g, "12.3"), "rejected");
  assert.equal(judge(g, "1"), "complete");
  assert.equal(judge(g, "-"), "rejected");
  assert.equal(judge(g, "123"), "rejected");
  const i = compileResponseFormat(schema({ type: "integer", minimum: -5, maximum: 40 }))!;
  assert.equal(judge(i, "-5"), "complete");
  assert.equal(judge(i, "-6"), "rejected");
  assert.equal(judge(i, "4"), "complete", "4 and 40 both fit");
  assert.equal(judge(i, "5"), "complete");
  assert.equal(judge(i, "50"), "rejected");
  assert.equal(judge(i, "4."), "rejected");
  assert.equal(judge(i, "-0"), "complete");
});

Deno.test("enum, const, anyOf and $ref", () => {
  const g = compileResponseFormat(schema({
    $defs: {
      node: { type: "object", properties: { v: { enum: ["a", 1, null] }, next: { $ref: "#/$defs/node" } } },
    },
    anyOf: [{ $ref: "#/$defs/node" }, { const: [1, 2] }, { type: "string" }],
  }))!;
  assert.equal(judge(g, '{"v": "a", "next": {"v": 1, "next": {}}}'), "complete");
  assert.equal(judge(g, '{"v": "b"}'), "rejected");
  assert.equal(judge(g, "[1,2]"), "complete");
  assert.equal(judge(g, "[1, 2]"), "rejected", "literals are written canonically");
  assert.equal(judge(g, '"free"'), "complete");
});
