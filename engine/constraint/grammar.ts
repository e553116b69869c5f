/**
 * The compiled form of a response format: a graph of grammar nodes (ids index
 * {@linkcode Grammar.nodes}; `$ref` cycles are edges back), which the byte-level
 * automaton in `json_grammar.ts` walks. Built by `schema.ts`.
 *
 * @module
 */

import type { LiteralTrie } from "./literal_trie.ts";

/** One of several node graphs; a value matches if it matches any option. */
export interface AnyOfNode {
  readonly kind: "anyOf";
  readonly options: readonly number[];
}

/** An object with listed properties, written in the listed order; optional ones may be left out. */
export interface ObjectNode {
  readonly kind: "object";
  /** Each property's JSON-encoded name without its opening quote (`name"`), property index at the end. */
  readonly keys: LiteralTrie;
  /** Value node of each property, in order. */
  readonly values: readonly number[];
  /** `lastKey[i]`: the last property index that may come next after property i−1 (the first required one). */
  readonly lastKey: readonly number[];
  /** `canClose[i]`: no required property at index ≥ i. */
  readonly canClose: readonly boolean[];
}

/** An object with any keys (free strings); every value is of node `value`. */
export interface FreeObjectNode {
  readonly kind: "freeObject";
  readonly value: number;
}

/** An array of `items` with `min`..`max` elements. */
export interface ArrayNode {
  readonly kind: "array";
  readonly items: number;
  readonly min: number;
  readonly max: number;
}

/** Any JSON string (valid UTF-8, escapes checked). */
export interface StringNode {
  readonly kind: "string";
}

/** A JSON number without exponent; bounds are scaled by 10^fracDigits and inclusive. */
export interface NumberNode {
  readonly kind: "number";
  /** Most digits after the point (0 for integers: no point at all). */
  readonly fracDigits: number;
  readonly min: bigint | undefined;
  readonly max: bigint | undefined;
}

/** One of a fixed set of canonical JSON texts (enum, const, true/false, null). */
export interface LiteralNode {
  readonly kind: "literal";
  readonly trie: LiteralTrie;
}

/** A node of the grammar graph. */
export type GrammarNode =
  | AnyOfNode
  | ObjectNode
  | FreeObjectNode
  | ArrayNode
  | StringNode
  | NumberNode
  | LiteralNode;

/** A compiled response format. */
export interface Grammar {
  readonly nodes: readonly GrammarNode[];
  /** The node the whole output is a value of. */
  readonly root: number;
  /** The free-string node object keys use. */
  readonly stringNode: number;
  /** A stable text of the format it was compiled from (cache key). */
  readonly source: string;
}

/** Most digits before the decimal point a generated number may have (keeps integers exact in f64). */
export const MAX_INT_DIGITS = 15;
/** Most digits after the decimal point a generated number may have. */
export const MAX_FRAC_DIGITS = 15;
