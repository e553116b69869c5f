// Hostile values for fuzzing the HTTP API: a seeded PRNG, JSON text with what JSON.stringify cannot
// write, wrong-typed and absurd values, bad JSON schemas, malformed JSON and corrupt state blobs.
import { crc32 } from "../../engine/crc32.ts";

/** A JSON value written as it stands (1e999, -0, a bare token): JSON.stringify cannot say these. */
export class Raw {
  constructor(readonly text: string) {}
}

/** Mulberry32: a small seeded PRNG, so a seed names the whole run. */
export function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  return { next, int, pick };
}
export type Rng = ReturnType<typeof prng>;

/** JSON text of `value`, with each {@linkcode Raw} written as its text. */
export function toJson(value: unknown): string {
  const raws: string[] = [];
  const text = JSON.stringify(value, (_, v) => v instanceof Raw ? `\u0000raw${raws.push(v.text) - 1}` : v);
  return text.replace(/"\\u0000raw(\d+)"/g, (_, i) => raws[Number(i)]);
}

export const nested = (depth: number, open: string, close: string) =>
  open.repeat(depth) + close.repeat(depth);

export const NUMBERS: unknown[] = [
  -1,
  0,
  1,
  0.5,
  1.5,
  -0.5,
  2,
  3,
  20,
  21,
  100,
  101,
  -100,
  -101,
  4096,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  2 ** 53 + 2,
  -(2 ** 53),
  1e308,
  -1e308,
  5e-324,
  new Raw("1e999"),
  new Raw("-1e999"),
  new Raw("-0"),
  new Raw("1E+2"),
  new Raw("100000000000000000000000000000000000000000"),
];
export const STRINGS: unknown[] = [
  "",
  "1",
  "-1",
  "NaN",
  "Infinity",
  "null",
  "true",
  "0x10",
  "1e3",
  "\u0000",
  "a\u0000b",
  "\ud800",
  "x\udfffy",
  "\ud83d",
  "\uffff\ufffe\ufeff",
  "💩👨‍👩‍👧",
  "\n\n\n",
  "../../etc/passwd",
  "%00%2e%2e",
  "<script>alert(1)</script>",
  "x".repeat(300),
  "\u0000".repeat(5000),
  "\ud800".repeat(3000),
  "ab".repeat(300_000),
];
export const ARRAYS: unknown[] = [
  [],
  [null],
  [1, "a"],
  [-1],
  [1.5],
  [2 ** 53],
  [999_999_999],
  [65535, 65536, 65537],
  [[]],
  [{}],
  Array(3000).fill(7),
  Array(200_000).fill(0),
  Array(17).fill("x"),
  Array(300).fill("\u0000"),
];
export const OBJECTS: unknown[] = [
  {},
  { a: 1 },
  { "__proto__": { polluted: true } },
  { constructor: { prototype: {} } },
  { type: "text" },
  { "-1": 1 },
  new Raw(nested(5000, "[", "]")),
  new Raw(nested(100_000, "[", "]")),
  new Raw(`{"a":${nested(20_000, '{"a":', "}").slice(0, -1)}1}}`),
];
export const SCALARS: unknown[] = [null, true, false, new Raw("null")];

/** A hostile value of any type, mostly of the kind the field expects (numbers for numbers). */
export function junk(rng: Rng, like?: unknown): unknown {
  const pools = [NUMBERS, STRINGS, ARRAYS, OBJECTS, SCALARS];
  const own = typeof like === "number"
    ? NUMBERS
    : typeof like === "string"
    ? STRINGS
    : Array.isArray(like)
    ? ARRAYS
    : OBJECTS;
  return rng.pick(rng.next() < 0.6 ? own : rng.pick(pools));
}

/** JSON schemas that are recursive, absurdly deep or large, contradictory, or use unsupported keywords. */
export function hostileSchema(rng: Rng): unknown {
  // Written as text: JSON.stringify recurses, and 20 000 levels are past its stack.
  const deep = (n: number, open: string, close: string) =>
    new Raw(nested(n, open, close).replace(open + close, open + '{"type":"string"}' + close));
  return rng.pick<() => unknown>([
    () => ({ $ref: "#" }),
    () => ({ $ref: "#/$defs/a", $defs: { a: { $ref: "#/$defs/a" } } }),
    () => ({ $ref: "#/$defs/a", $defs: { a: { $ref: "#/$defs/b" }, b: { $ref: "#/$defs/a" } } }),
    () => ({ type: "object", properties: { a: { $ref: "#" } }, required: ["a"] }),
    () => ({ type: "array", items: { $ref: "#" }, minItems: 1 }),
    () => ({ $ref: "#/$defs/missing" }),
    () => ({ $ref: "https://example.com/schema.json" }),
    () => ({ $ref: "#/properties/../../.." }),
    () => deep(rng.pick([100, 2000, 20_000]), '{"type":"array","items":', "}"),
    () => deep(rng.pick([100, 2000]), '{"type":"object","required":["a"],"properties":{"a":', "}}"),
    () => deep(rng.pick([100, 2000]), '{"anyOf":[{"type":"null"},', "]}"),
    () => ({ type: "string", pattern: "(a+)+$" }),
    () => ({ type: "string", minLength: 1e9 }),
    () => ({ type: "string", minLength: 5, maxLength: 2 }),
    () => ({ type: "string", maxLength: -1 }),
    () => ({ type: "array", items: { type: "integer" }, minItems: 1e9 }),
    () => ({ type: "array", minItems: 3, maxItems: 1 }),
    () => ({ type: "integer", minimum: 10, maximum: 1 }),
    () => ({ type: "integer", minimum: 1e308 }),
    () => ({ type: "number", multipleOf: 0 }),
    () => ({ enum: [] }),
    () => ({ enum: Array.from({ length: 20_000 }, (_, i) => `v${i}`) }),
    () => ({ enum: [{ a: [1, { b: null }] }, "\u0000", "\ud800"] }),
    () => ({ anyOf: [] }),
    () => ({ oneOf: [{ type: "string" }, { type: "string" }] }),
    () => ({ allOf: [{ type: "string" }, { type: "integer" }] }),
    () => ({ not: {} }),
    () => ({ type: "foo" }),
    () => ({ type: [] }),
    () => ({ type: ["string", "null", "integer", "boolean"] }),
    () => ({ type: "string", format: "date-time" }),
    () => ({ const: { a: [1, 2, { b: "\u0000" }] } }),
    () => ({ type: "object", properties: { "__proto__": { type: "string" } }, required: ["__proto__"] }),
    () => ({ type: "object", required: ["missing"], additionalProperties: false }),
    () => ({
      type: "object",
      properties: Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`k${i}`, { type: "integer" }])),
    }),
    () => ({ type: "object", patternProperties: { "^a": {} } }),
    () => ({ if: {}, then: {}, else: {} }),
    () => ({ type: "string", contentEncoding: "base64" }),
    () => junk(rng),
  ])();
}

/** A hostile `response_format`. */
export function hostileFormat(rng: Rng): unknown {
  const schema = hostileSchema(rng);
  return rng.pick<() => unknown>([
    () => ({ type: "json_schema", json_schema: { name: "fuzz", schema, strict: true } }),
    () => ({ type: "json_schema", json_schema: { name: "fuzz", schema } }),
    () => ({ type: "json_schema", json_schema: { name: junk(rng, ""), schema: { type: "integer" } } }),
    () => ({ type: "json_schema", json_schema: junk(rng) }),
    () => ({ type: "json_schema" }),
    () => ({ type: "json_object", schema }),
    () => ({ type: junk(rng, "") }),
    () => junk(rng),
  ])();
}

/** Bytes that are not the JSON they claim to be. */
export function malformedJson(rng: Rng, valid: string): string | Uint8Array<ArrayBuffer> {
  return rng.pick<() => string | Uint8Array<ArrayBuffer>>([
    () => valid.slice(0, rng.int(valid.length)),
    () => valid + "}",
    () => "",
    () => " ",
    () => "null",
    () => "[]",
    () => "42",
    () => '"text"',
    () => "1e999",
    () => "{'prompt': 'single quotes'}",
    () => '{"prompt": "x",}',
    () => '{"prompt": NaN}',
    () => '{"max_tokens": Infinity}',
    () => `\ufeff${valid}`,
    () => valid.replace("{", '{"prompt": "a", "prompt": [1], '),
    () => nested(200_000, "[", "]"),
    () => nested(50_000, '{"a":', "}"),
    () =>
      new Uint8Array([
        0x7b,
        0x22,
        0x70,
        0x22,
        0x3a,
        0x22,
        0xff,
        0xfe,
        0xc0,
        0x80,
        0xed,
        0xa0,
        0x80,
        0x22,
        0x7d,
      ]),
    () => Uint8Array.from({ length: 4096 }, () => rng.int(256)),
    () => '{"prompt": "' + "x".repeat(5 * 1024 * 1024) + '"}',
  ])();
}

/** A state blob made wrong: truncated, bytes flipped, lengths rewritten, padded, or random. */
export function corruptBlob(rng: Rng, blob: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(blob);
  const view = new DataView(out.buffer);
  return rng.pick<() => Uint8Array<ArrayBuffer>>([
    () => out.slice(0, rng.int(out.length)),
    () => out.slice(0, rng.pick([0, 1, 8, 12, 15, 16, 17])),
    () => {
      for (let i = 1 + rng.int(8); i > 0; i--) out[rng.int(out.length)] ^= 1 << rng.int(8);
      return out;
    },
    () => {
      out[16 + rng.int(Math.min(200, out.length - 16))] ^= 0x20; // inside the JSON header
      return out;
    },
    () => {
      view.setUint32(8, rng.pick([0, 3, 0xffffffff]), true);
      return out;
    },
    () => {
      view.setUint32(12, rng.pick([0, 1, out.length, 0x7fffffff, 0xffffffff]), true);
      return out;
    },
    () => {
      const padded = new Uint8Array(out.length + 1 + rng.int(4096));
      padded.set(out);
      return padded;
    },
    () => Uint8Array.from({ length: out.length }, () => rng.int(256)),
    // Past the checksum: header fields and payload made wrong, the blob sealed again.
    ...Array(4).fill(() => resealed(out, (header, payload) => editBlob(rng, header, payload))),
    () => {
      // A header that parses but lies: every number in it rewritten.
      const length = view.getUint32(12, true);
      const header = new TextDecoder().decode(out.subarray(16, 16 + length));
      const lied = new TextEncoder().encode(header.replace(/\d+/g, () => rng.pick(["0", "9999999", "1"])));
      const blobOut = new Uint8Array(16 + lied.length + out.length - 16 - length);
      blobOut.set(out.subarray(0, 16));
      new DataView(blobOut.buffer).setUint32(12, lied.length, true);
      blobOut.set(lied, 16);
      blobOut.set(out.subarray(16 + length), 16 + lied.length);
      return blobOut;
    },
  ])();
}

/**
 * A blob with its header and payload edited, its header length and CRC-32 written again, so
 * the edit reaches the checks past the checksum.
 */
function resealed(
  blob: Uint8Array,
  edit: (header: Record<string, unknown>, payload: Uint8Array) => Uint8Array,
): Uint8Array<ArrayBuffer> {
  const length = new DataView(blob.buffer, blob.byteOffset).getUint32(12, true);
  const header = JSON.parse(new TextDecoder().decode(blob.subarray(16, 16 + length)));
  const payload = edit(header, blob.slice(16 + length, blob.length - 4));
  const json = new TextEncoder().encode(toJson(header));
  const out = new Uint8Array(16 + json.length + payload.length + 4);
  const view = new DataView(out.buffer);
  out.set(blob.subarray(0, 12));
  view.setUint32(12, json.length, true);
  out.set(json, 16);
  out.set(payload, 16 + json.length);
  view.setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
  return out;
}

/** One edit of a state blob's header fields or payload values; returns the payload to seal. */
function editBlob(rng: Rng, header: Record<string, unknown>, payload: Uint8Array): Uint8Array {
  const floats = new Float32Array(payload.buffer, payload.byteOffset, payload.length / 4);
  const sampler = header.sampler as Record<string, unknown>;
  const parts = header.parts as Record<string, unknown>[];
  const edge = () => rng.pick<unknown>([-1, 0, 1.5, 2 ** 32, 2 ** 48 + 1, 2 ** 53, "1", null, []]);
  rng.pick<() => void>([
    () => header[rng.pick(Object.keys(header))] = junk(rng, 0),
    () => delete header[rng.pick(Object.keys(header))],
    () => header.tokens = edge(),
    () => header.carry = rng.pick<unknown>([[255], [0xc0, 0x80], Array(100).fill(0xf0), [256], [-1], "x"]),
    () => sampler.rng = edge(),
    () => sampler.counts = rng.pick<unknown>([[[5, -1]], [[1e9, 1]], [[5, 1], [5, 2]], [[1.5, 1]], [5], "x"]),
    () => parts[rng.int(parts.length)].shape = rng.pick<unknown>([[], [0], [-1], [2 ** 31, 2 ** 31], ["4"]]),
    () => parts.reverse(),
    () => parts.push({ name: "extra", shape: [1] }),
    () => header.fingerprint = rng.pick(["", "0".repeat(64), "\u0000"]),
    () => header.model = rng.pick(["other", "", "rwkv7-kjv-4m\u0000"]),
    () =>
      header.constraint = rng.pick<unknown>([
        { alts: [[[0, 0, 0, 0, 0, ""]]] },
        { alts: [[[-1, 0, 0, 0, 0, ""]]] },
        { alts: [[[99999, 7, -1, 2 ** 40, 1e9, "x".repeat(1000)]]] },
        { alts: Array(1000).fill([[0, 0, 0, 0, 0, ""]]) },
        { alts: [] },
        junk(rng),
      ]),
    () => floats[rng.int(floats.length)] = rng.pick([NaN, Infinity, -Infinity, 3.4e38, -0]),
    () => {
      // Logits where there were none (or one short of the vocabulary), the payload grown to match.
      header.logitFloats = rng.pick([1024, 1023, 1]);
      const grown = new Uint8Array(payload.length + 4 * (header.logitFloats as number));
      grown.set(payload);
      payload = grown;
    },
    () => {
      // bf16, as the header says, but the payload left f32 (or cut to half: a real bf16 length).
      header.dtype = "bf16";
      if (rng.next() < 0.5) payload = payload.slice(0, payload.length / 2);
    },
  ])();
  return payload;
}
