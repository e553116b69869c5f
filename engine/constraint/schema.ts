/**
 * Compiles a JSON Schema, in the subset that mainstream constrained decoders
 * support, into a {@linkcode Grammar}. A keyword outside the subset is refused with an
 * InvalidRequestError naming it, never ignored.
 *
 * @module
 */

import { InvalidRequestError } from "../errors.ts";
import type { Grammar, GrammarNode, NumberNode } from "./grammar.ts";
import { MAX_FRAC_DIGITS } from "./grammar.ts";
import { LiteralTrie } from "./literal_trie.ts";
import { boundsOf } from "./number_range.ts";
import { pruneUnproductive, refuseChoiceCycles } from "./grammar_checks.ts";

/** Keywords that only describe a schema and do not constrain values. */
const ANNOTATIONS = new Set(["title", "description", "default", "examples", "$schema", "$id", "$comment"]);
/** Keywords that hold definitions for `$ref`. */
const DEFINITIONS = new Set(["$defs", "definitions"]);
/** Keywords the compiler understands. */
const SUPPORTED = new Set([
  "type",
  "properties",
  "required",
  "additionalProperties",
  "items",
  "minItems",
  "maxItems",
  "enum",
  "const",
  "minimum",
  "maximum",
  "anyOf",
  "$ref",
  "$defs",
  "definitions",
]);
/** Most grammar nodes one schema may compile to. */
const MAX_NODES = 10_000;
/** Deepest a schema may nest (each subschema one level): deeper ones would exhaust the stack. */
const MAX_DEPTH = 64;
const PARAM = "response_format";

function fail(message: string): never {
  throw new InvalidRequestError(message, PARAM);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Compiles a JSON schema; `source` is a stable text of the format (the grammar's cache key). */
export function compileSchema(schema: unknown, source: string): Grammar {
  return new Compiler(schema, source).compileRoot(schema);
}

class Compiler {
  readonly nodes: (GrammarNode | undefined)[] = [];
  readonly #refs = new Map<string, number>();
  readonly #root: unknown;
  readonly #source: string;
  #any = -1;
  #string = -1;
  #depth = 0;

  constructor(root: unknown, source: string) {
    this.#root = root;
    this.#source = source;
  }

  compileRoot(schema: unknown): Grammar {
    const root = this.compile(schema, "#");
    const nodes = this.nodes as GrammarNode[];
    refuseChoiceCycles(nodes);
    pruneUnproductive(nodes, root);
    return { nodes, root, stringNode: this.stringNode(), source: this.#source };
  }

  #add(node: GrammarNode | undefined): number {
    if (this.nodes.length >= MAX_NODES) fail(`The JSON schema is too large (over ${MAX_NODES} nodes)`);
    this.nodes.push(node);
    return this.nodes.length - 1;
  }

  stringNode(): number {
    if (this.#string < 0) this.#string = this.#add({ kind: "string" });
    return this.#string;
  }

  /** Any JSON value: dispatches on the first byte. */
  anyNode(): number {
    if (this.#any >= 0) return this.#any;
    this.#any = this.#add(undefined);
    const options = [
      this.#add({ kind: "freeObject", value: this.#any }),
      this.#add({ kind: "array", items: this.#any, min: 0, max: Infinity }),
      this.stringNode(),
      this.#add({ kind: "number", fracDigits: MAX_FRAC_DIGITS, min: undefined, max: undefined }),
      this.#add({ kind: "literal", trie: new LiteralTrie(["true", "false", "null"]) }),
    ];
    this.nodes[this.#any] = { kind: "anyOf", options };
    return this.#any;
  }

  compile(schema: unknown, path: string): number {
    if (this.#depth >= MAX_DEPTH) {
      fail(`The JSON schema nests deeper than ${MAX_DEPTH} levels (at ${show(path)}); flatten it`);
    }
    this.#depth++;
    try {
      return this.#compileOne(schema, path);
    } finally {
      this.#depth--;
    }
  }

  #compileOne(schema: unknown, path: string): number {
    if (schema === true) return this.anyNode();
    if (!isObject(schema)) {
      fail(`The JSON schema at ${path} must be an object (or true), got ${show(schema)}`);
    }
    for (const key of Object.keys(schema)) {
      if (!SUPPORTED.has(key) && !ANNOTATIONS.has(key)) {
        fail(
          `The JSON schema keyword "${key}" (at ${path}) is not supported; supported keywords: ` +
            `${[...SUPPORTED].join(", ")}`,
        );
      }
    }
    if (schema.$ref !== undefined) return this.#ref(schema, path);
    if (schema.anyOf !== undefined) return this.#anyOf(schema, path);
    if (schema.enum !== undefined || schema.const !== undefined) return this.#literal(schema, path);
    const type = schema.type ?? inferType(schema);
    if (Array.isArray(type)) {
      if (type.length === 0) fail(`The JSON schema "type" at ${path} is an empty list`);
      const options = type.map((t) => this.compile({ ...schema, type: t }, path));
      return options.length === 1 ? options[0] : this.#add({ kind: "anyOf", options });
    }
    switch (type) {
      case undefined:
        return this.anyNode();
      case "object":
        return this.#object(schema, path);
      case "array":
        return this.#array(schema, path);
      case "string":
        return this.stringNode();
      case "number":
      case "integer":
        return this.#number(schema, type === "integer", path);
      case "boolean":
        return this.#add({ kind: "literal", trie: new LiteralTrie(["true", "false"]) });
      case "null":
        return this.#add({ kind: "literal", trie: new LiteralTrie(["null"]) });
      default:
        return fail(`The JSON schema "type" ${show(type)} at ${path} is not a JSON type`);
    }
  }

  #ref(schema: Record<string, unknown>, path: string): number {
    const ref = schema.$ref;
    const others = Object.keys(schema).filter((k) =>
      k !== "$ref" && !DEFINITIONS.has(k) && !ANNOTATIONS.has(k)
    );
    if (others.length) fail(`The JSON schema at ${path} combines "$ref" with "${others[0]}"; use one`);
    if (typeof ref !== "string") fail(`The JSON schema "$ref" at ${path} must be a string`);
    const known = this.#refs.get(ref);
    if (known !== undefined) return known;
    const m = /^#(?:\/(\$defs|definitions)\/([^/]+))?$/.exec(ref);
    if (!m) {
      fail(`The JSON schema "$ref" ${show(ref)} at ${path} is not supported; use "#/$defs/Name" or "#"`);
    }
    const name = m[2]?.replaceAll("~1", "/").replaceAll("~0", "~");
    const defs = m[1] && isObject(this.#root) ? this.#root[m[1]] : undefined;
    const target = m[1] ? (isObject(defs) ? defs[name!] : undefined) : this.#root;
    if (target === undefined) fail(`The JSON schema "$ref" ${show(ref)} at ${path} names no definition`);
    // Reserve the id first: a definition may refer to itself.
    const id = this.#add(undefined);
    this.#refs.set(ref, id);
    const body = this.compile(target, ref);
    this.nodes[id] = { kind: "anyOf", options: [body] };
    return id;
  }

  #anyOf(schema: Record<string, unknown>, path: string): number {
    const others = Object.keys(schema).filter((k) =>
      k !== "anyOf" && !DEFINITIONS.has(k) && !ANNOTATIONS.has(k)
    );
    if (others.length) fail(`The JSON schema at ${path} combines "anyOf" with "${others[0]}"; use one`);
    const list = schema.anyOf;
    if (!Array.isArray(list) || list.length === 0) {
      fail(`The JSON schema "anyOf" at ${path} must be a non-empty list`);
    }
    const options = list.map((s, i) => this.compile(s, `${path}/anyOf/${i}`));
    return this.#add({ kind: "anyOf", options });
  }

  #literal(schema: Record<string, unknown>, path: string): number {
    const values = schema.const !== undefined ? [schema.const] : schema.enum;
    if (!Array.isArray(values) || values.length === 0) {
      fail(`The JSON schema "enum" at ${path} must be a non-empty list`);
    }
    const types = schema.type === undefined ? undefined : [schema.type].flat();
    const kept = values.filter((v) => types === undefined || types.some((t) => hasType(v, t)));
    if (kept.length === 0) fail(`No value of the JSON schema "enum" at ${path} has the "type" it asks for`);
    const texts = [...new Set(kept.map((v) => JSON.stringify(v)))];
    return this.#add({ kind: "literal", trie: new LiteralTrie(texts) });
  }

  #object(schema: Record<string, unknown>, path: string): number {
    const props = schema.properties ?? {};
    if (!isObject(props)) fail(`The JSON schema "properties" at ${path} must be an object`);
    const required = schema.required ?? [];
    if (!Array.isArray(required) || !required.every((r) => typeof r === "string")) {
      fail(`The JSON schema "required" at ${path} must be a list of names`);
    }
    const names = Object.keys(props);
    const missing = required.find((r) => !names.includes(r));
    if (missing !== undefined) {
      fail(`The JSON schema at ${path} requires "${missing}", which is not in "properties"`);
    }
    const extra = schema.additionalProperties;
    if (names.length === 0) {
      const value = extra === undefined || extra === true
        ? this.anyNode()
        : this.compile(extra, `${path}/additionalProperties`);
      return this.#add({ kind: "freeObject", value });
    }
    if (extra !== undefined && extra !== false) {
      fail(
        `The JSON schema at ${path} lists "properties": its "additionalProperties" must be false (or absent)`,
      );
    }
    const id = this.#add(undefined);
    const values = names.map((n) => this.compile(props[n], `${path}/properties/${n}`));
    const isRequired = names.map((n) => required.includes(n));
    const lastKey: number[] = [], canClose: boolean[] = [];
    for (let i = 0; i <= names.length; i++) {
      const r = isRequired.indexOf(true, i);
      canClose.push(r < 0);
      lastKey.push(r < 0 ? names.length - 1 : r);
    }
    const keys = new LiteralTrie(names.map((n) => JSON.stringify(n).slice(1)));
    this.nodes[id] = { kind: "object", keys, values, lastKey, canClose };
    return id;
  }

  #array(schema: Record<string, unknown>, path: string): number {
    const min = schema.minItems ?? 0, max = schema.maxItems ?? Infinity;
    if (!Number.isSafeInteger(min) || (min as number) < 0) {
      fail(`The JSON schema "minItems" at ${path} must be a whole number`);
    }
    if (max !== Infinity && (!Number.isSafeInteger(max) || (max as number) < 0)) {
      fail(`The JSON schema "maxItems" at ${path} must be a whole number`);
    }
    if ((min as number) > (max as number)) fail(`The JSON schema at ${path} has "minItems" over "maxItems"`);
    if (Array.isArray(schema.items)) {
      fail(`The JSON schema "items" at ${path} must be one schema (tuples are not supported)`);
    }
    const items = schema.items === undefined ? this.anyNode() : this.compile(schema.items, `${path}/items`);
    return this.#add({ kind: "array", items, min: min as number, max: max as number });
  }

  #number(schema: Record<string, unknown>, integer: boolean, path: string): number {
    const fracDigits = integer ? 0 : MAX_FRAC_DIGITS;
    for (const k of ["minimum", "maximum"]) {
      if (schema[k] !== undefined && !Number.isFinite(schema[k])) {
        fail(`The JSON schema "${k}" at ${path} must be a number`);
      }
    }
    const { min, max } = boundsOf(
      schema.minimum as number | undefined,
      schema.maximum as number | undefined,
      fracDigits,
    );
    if (min !== undefined && max !== undefined && min > max) {
      fail(
        `The JSON schema at ${path} allows no ${
          integer ? "integer" : "number"
        } between "minimum" and "maximum"`,
      );
    }
    const node: NumberNode = { kind: "number", fracDigits, min, max };
    return this.#add(node);
  }
}

function inferType(schema: Record<string, unknown>): string | undefined {
  if ("properties" in schema || "required" in schema || "additionalProperties" in schema) return "object";
  if ("items" in schema || "minItems" in schema || "maxItems" in schema) return "array";
  if ("minimum" in schema || "maximum" in schema) return "number";
  return undefined;
}

function hasType(v: unknown, t: unknown): boolean {
  switch (t) {
    case "null":
      return v === null;
    case "integer":
      return Number.isInteger(v);
    case "array":
      return Array.isArray(v);
    case "object":
      return isObject(v);
    case "number":
      return typeof v === "number";
    case "string":
      return typeof v === "string";
    case "boolean":
      return typeof v === "boolean";
    default:
      return false;
  }
}

function show(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
